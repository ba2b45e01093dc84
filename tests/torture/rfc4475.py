# ruff: noqa: E501  (messages keep the long lines the tests are about)
"""SIP torture messages after RFC 4475 (section 3), written for the edge under test.

Each entry is named after the RFC's test (its short name and section). `{edge}` is the edge's
host:port, `{cid}` a fresh Call-ID, `{branch}` a fresh branch, `{len}` the body's length in
bytes; lines end in CRLF. VALID messages must be answered (requests)
or may be ignored (responses: the edge sent no request they could answer); INVALID messages
must get 400 or nothing.

Everything the edge could send on is loopback (wsinv's Route, bcast's second Via: the RFC's
255.255.255.255 becomes 127.255.255.255), so no torture message makes it send elsewhere.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass


@dataclass(frozen=True)
class Torture:
    name: str
    text: str
    answerable: bool = True  # False: a response, or an ACK, which nothing answers by design

    def render(self, edge: str) -> bytes:
        head, sep, body = (self.text.replace("{edge}", edge)
                           .replace("{cid}", f"torture-{self.name}-{secrets.token_hex(6)}")
                           .replace("{branch}", "z9hG4bK" + secrets.token_hex(6))).partition("\n\n")
        raw_body = _bytes(body)
        return _bytes(head + sep).replace(b"{len}", str(len(raw_body)).encode()) + raw_body


# Characters written as <NAME>: trailing spaces, control bytes, bytes that are not UTF-8 at all.
RAW = {b"<SP>": b" ", b"<NUL>": b"\x00", b"<BEL>": b"\x07", b"<DEL>": b"\x7f", b"<BIN>": b"\x30\x82\x01\x8e\xff\xfe\x00\x01"}


def _bytes(text: str) -> bytes:
    data = text.replace("\n", "\r\n").encode()
    for name, raw in RAW.items():
        data = data.replace(name, raw)
    return data


SDP = """v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.3
s=-
c=IN IP4 192.0.2.4
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"""

VALID = [
    # 3.1.1.1 wsinv: line folding, odd whitespace, compact forms, escapes, unknown header
    Torture("wsinv", """INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0
TO :
 sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n
from   : "J Rosenberg \\\\\\""       <sip:jdrosen@example.com>
  ;
  tag = 98asjd8
MaX-fOrWaRdS: 0068
Call-ID: {cid}
Content-Length   : {len}
cseq: 0009
  INVITE
Via  : SIP  /   2.0
 /UDP
    192.0.2.2;branch={branch}
s :
NewFangledHeader:   newfangled value
 continued newfangled value
UnknownHeaderWithUnusualValue: ;;,,;;,;
Content-Type: application/sdp
Route:
 <sip:127.0.0.1:9;lr;unknownwith=value;unknown-no-value>
v:  SIP  / 2.0  / TCP     spindle.example.com   ;
  branch  =   z9hG4bK9ikj8  ,
 SIP  /    2.0   / UDP  192.168.255.111   ; branch=
 z9hG4bK30239
m:"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam =
      newvalue ;
  secondparam ; q = 0.33

""" + SDP),
    # 3.1.1.2 intmeth: an unknown method made of every token character
    Torture("intmeth", """!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0
Via: SIP/2.0/TCP host1.example.com;branch={branch}
To: "BEL:\\<BEL> NUL:\\<NUL> DEL:\\<DEL>" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>
From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%=Sticks;tag=_token~1'+`*%!-.
Call-ID: {cid}
CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~
Max-Forwards: 255
extensionHeader-!.%*+_`'~: ﻿大停電
Content-Length: 0

"""),
    # 3.1.1.3 esc01: escaped characters in the Request-URI and To
    Torture("esc01", """INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0
To: sip:%75se%72@example.com
From: <sip:I%20have%20spaces@example.net>;tag=938
Max-Forwards: 87
i: {cid}
CSeq: 1 INVITE
Via: SIP/2.0/UDP host5.example.net;branch={branch}
Content-Type: application/sdp
l: {len}

""" + SDP),
    # 3.1.1.4 escnull: an escaped NUL in the user part
    Torture("escnull", """REGISTER sip:example.com SIP/2.0
To: sip:null-%00-null@example.com
From: sip:null-%00-null@example.com;tag=839923423
Max-Forwards: 70
Call-ID: {cid}
CSeq: 35 REGISTER
Via: SIP/2.0/UDP host5.example.com;branch={branch}
Contact: <sip:%00@host5.example.com>
Contact: <sip:%00%00@host5.example.com>
L:0

"""),
    # 3.1.1.5 esc02: escapes in a method name are not escapes
    Torture("esc02", """RE%47IST%45R sip:registrar.example.com SIP/2.0
To: "%Z%45" <sip:resource@example.com>
From: "%Z%45" <sip:resource@example.com>;tag=f232jadfj23
Call-ID: {cid}
Via: SIP/2.0/TCP host.example.com;branch={branch}
Max-Forwards: 70
Contact: <sip:alias1@host1.example.com>
C%6Fntact: <sip:alias2@host2.example.com>
Contact: <sip:alias3@host3.example.com>
l: 0
CSeq: 1 RE%47IST%45R

"""),
    # 3.1.1.6 lwsdisp: no whitespace between display name and <
    Torture("lwsdisp", """OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: caller<sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID: {cid}
CSeq: 59 OPTIONS
Via: SIP/2.0/UDP host5.example.net;branch={branch}
l: 0

"""),
    # 3.1.1.7 longreq: long values everywhere
    Torture("longreq", """INVITE sip:user@example.com SIP/2.0
To: "I have a user name of {long} proportion" <sip:user@example.com:6000;unknownparam1=verylonguvalue{long};longparam{long}=shortvalue;verylonglongparam{long}={long}>
From: sip:amazinglylongcallername{long}@example.net;tag=12{long}982582;unknownheaderparam{long}=unknowheaderparamvalue{long};unknownValuelessparam{long}
Call-ID: {cid}
CSeq: 3882340 INVITE
Unknown-{long}-Header: unknown-{long}-value; unknown-{long}-param={long}
Via: SIP/2.0/TCP sip33.example.com
v: SIP/2.0/TCP sip32.example.com
V: SIP/2.0/TCP sip31.example.com;branch={branch}
Max-Forwards: 70
Contact: <sip:amazinglylongcallername{long}@host5.example.net>
Content-Type: application/sdp
l: {len}

""".replace("{long}", "longlong" * 60) + SDP),
    # 3.1.1.8 dblreq: two requests in one datagram; only the first counts
    Torture("dblreq", """REGISTER sip:example.com SIP/2.0
To: sip:j.user@example.com
From: sip:j.user@example.com;tag=43251j3j324
Max-Forwards: 8
I: {cid}
CSeq: 8 REGISTER
Via: SIP/2.0/UDP 192.0.2.125;branch={branch}
Contact: <sip:j.user@host.example.com>
l: 0

INVITE sip:joe@example.com SIP/2.0
t: sip:joe@example.com
From: sip:caller@example.net;tag=141334
Max-Forwards: 8
Call-ID: dblreq-second@192.0.2.15
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234
Content-Type: application/sdp
Content-Length: 100
"""),
    # 3.1.1.9 semiuri: a semicolon-separated parameter inside the user part
    Torture("semiuri", """OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0
To: sip:j_user@example.com
From: sip:caller@example.org;tag=33242
Max-Forwards: 3
Call-ID: {cid}
CSeq: 8 OPTIONS
Via: SIP/2.0/UDP 192.0.2.1;branch={branch}
Accept: application/sdp, application/pkcs7-mime,
        multipart/mixed, multipart/signed,
        message/sip, message/sipfrag
Content-Length: 0

"""),
    # 3.1.1.10 transports: transports the edge does not know in Via
    Torture("transports", """OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: <sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID: {cid}
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP t1.example.com;branch={branch}
Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf
Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj
Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en
Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee
l: 0

"""),
    # 3.1.1.11 mpart01: a multipart body with a binary part
    Torture("mpart01", """MESSAGE sip:kumiko@example.org SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5070;branch={branch}
Max-Forwards: 70
From: "Nobody" <sip:nobody@example.net>;tag=1
To: <sip:kumiko@example.org>
Call-ID: {cid}
CSeq: 1 MESSAGE
Content-Type: multipart/signed;protocol="application/pkcs7-signature";micalg=sha1;boundary=boundary42
Content-Length: {len}

--boundary42
Content-Type: text/plain

hello
--boundary42
Content-Type: application/pkcs7-signature; name=smime.p7s
Content-Transfer-Encoding: binary

<BIN>
--boundary42--
"""),
    # 3.1.1.12 unreason: a response with an unusual reason phrase (nothing to answer)
    Torture("unreason", """SIP/2.0 200 = 2**3 * 5**2 но сто девяносто девять - простое
Via: SIP/2.0/UDP 192.0.2.198;branch={branch}
Call-ID: {cid}
CSeq: 353494 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0
Contact: <sip:user@host198.example.com>

""", answerable=False),
    # 3.1.1.13 noreason: a response without reason phrase
    Torture("noreason", """SIP/2.0 100 \nVia: SIP/2.0/UDP 192.0.2.105;branch={branch}
Call-ID: {cid}
CSeq: 35 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0

""", answerable=False),
    # 3.3.1 zeromf: Max-Forwards 0 (483 from a proxy)
    Torture("zeromf", """OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=3ghsd41
Call-ID: {cid}
CSeq: 39234321 OPTIONS
Via: SIP/2.0/UDP 192.0.2.1;branch={branch}
Max-Forwards: 0
Content-Length: 0

"""),
    # 3.3.15 sdp01 / 3.4 unksm: an unknown URI scheme in the Request-URI (416 expected)
    Torture("unksm", """OPTIONS nobodyKnowsThisScheme:totallyopaquecontent SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=384
Max-Forwards: 3
Call-ID: {cid}
CSeq: 3923239 OPTIONS
Via: SIP/2.0/UDP 192.0.2.1;branch={branch}
l: 0

"""),
    # 3.3.7 bext01: an extension the edge does not support in Require (420 expected)
    Torture("bext01", """OPTIONS sip:user@{edge} SIP/2.0
To: sip:j_user@{edge}
From: sip:caller@example.net;tag=242etr
Max-Forwards: 6
Call-ID: {cid}
Require: nothingSupportsThis, nothingSupportsThisEither
Proxy-Require: noProxiesSupportThis, norDoAnyProxiesSupportThis
CSeq: 8 OPTIONS
Via: SIP/2.0/UDP 192.0.2.1;branch={branch}
Content-Length: 0

"""),
    # 3.3.8 novelsc: a novel scheme in To/From/Contact
    Torture("novelsc", """OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=384
Max-Forwards: 3
Call-ID: {cid}
CSeq: 3923239 OPTIONS
Via: SIP/2.0/UDP 192.0.2.1;branch={branch}
l: 0

"""),
    # 3.3.12 inv2543: an RFC 2543 INVITE (no branch cookie)
    Torture("inv2543", """INVITE sip:UserB@example.com SIP/2.0
Via: SIP/2.0/UDP iftgw.example.com
From: <sip:+13035551111@ift.client.example.net;user=phone>
Record-Route: <sip:UserB@example.com;maddr=ss1.example.com>
To: sip:+16505552222@ss1.example.net;user=phone
Call-ID: {cid}
CSeq: 1 INVITE
Content-Length: {len}

""" + SDP),
    # 3.4.1 regaut01: REGISTER with credentials the edge never issued
    Torture("regaut01", """REGISTER sip:{edge} SIP/2.0
To: sip:4475@demo.test
From: sip:4475@demo.test;tag=8ajhfei
Max-Forwards: 70
Call-ID: {cid}
CSeq: 2 REGISTER
Via: SIP/2.0/UDP 192.0.2.2;branch={branch}
Contact: <sip:4475@192.0.2.2>
Authorization: Digest username="4475", realm="demo.test", nonce="nonceneverissued", uri="sip:demo.test", response="d41d8cd98f00b204e9800998ecf8427e"
l: 0

"""),
    # 3.4 sdp01 / invut: an INVITE whose body type nobody understands
    Torture("invut", """INVITE sip:1002@demo.test SIP/2.0
Contact: <sip:caller@host5.example.net>
To: sip:1002@demo.test
From: sip:1001@demo.test;tag=8392034
Max-Forwards: 70
Call-ID: {cid}
CSeq: 5467 INVITE
Via: SIP/2.0/UDP 192.0.2.5;branch={branch}
Content-Type: application/unknownformat
Content-Length: {len}

<audio> <pcmu port="443"/> </audio>
"""),
]

INVALID = [
    # 3.1.2.1 badinv01: extraneous header field separators
    Torture("badinv01", """INVITE sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=134161461246
Max-Forwards: 7
Call-ID: {cid}
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;;,;,,
Contact: "Joe" <sip:joe@example.org>;;;;
Content-Length: {len}
Content-Type: application/sdp

""" + SDP),
    # 3.1.2.2 clerr: Content-Length larger than the message
    Torture("clerr", """INVITE sip:user@example.com SIP/2.0
Max-Forwards: 80
To: sip:j.user@example.com
From: sip:caller@example.net;tag=93942939o2
Contact: <sip:caller@hungry.example.net>
Call-ID: {cid}
CSeq: 0 INVITE
Via: SIP/2.0/UDP 192.0.2.15;branch={branch}
Content-Type: application/sdp
Content-Length: 9999

""" + SDP),
    # 3.1.2.3 scalar02: negative Content-Length
    Torture("scalar02", """INVITE sip:vivekg@chair-dnrc.example.com SIP/2.0
Via: SIP/2.0/TCP host129.example.com;branch={branch}
Max-Forwards: 254
To: <sip:vivekg@chair-dnrc.example.com>
From: J Rosenberg \\\\\\" <sip:jdrosen@example.com>;tag=98asjd8
Call-ID: {cid}
CSeq: 8 INVITE
Contact: <sip:jdrosen@example.com>
Content-Length: -999
Content-Type: application/sdp

""" + SDP),
    # 3.1.2.4 scalarlg: overlarge scalar values
    Torture("scalarlg", """REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/TCP host129.example.com;branch={branch}
From: <sip:user@example.com>;tag=239232jh3
CSeq: 36893488147419103232 REGISTER
Call-ID: {cid}
Max-Forwards: 300
To: <sip:user@example.com>
Contact: <sip:user@host129.example.com>;expires=280297596632815
Expires: 1298295848729273092783
Content-Length: 0

"""),
    # 3.1.2.6 quotbal: unterminated quoted display name
    Torture("quotbal", """INVITE sip:user@example.com SIP/2.0
To: "Mr. J. User <sip:j.user@example.com>
From: sip:caller@example.net;tag=93334
Max-Forwards: 10
Call-ID: {cid}
CSeq: 93335 INVITE
Via: SIP/2.0/UDP 192.0.2.53:5060;branch={branch}
Contact: <sip:caller@host53.example.net>
Content-Type: application/sdp
Content-Length: {len}

""" + SDP),
    # 3.1.2.7 ltgtruri: <> around the Request-URI
    Torture("ltgtruri", """INVITE <sip:user@example.com> SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=39291
Max-Forwards: 23
Call-ID: {cid}
CSeq: 1 INVITE
Via: SIP/2.0/UDP 192.0.2.5;branch={branch}
Contact: <sip:caller@host5.example.net>
Content-Type: application/sdp
Content-Length: {len}

""" + SDP),
    # 3.1.2.8 lwsruri: whitespace inside the Request-URI
    Torture("lwsruri", """INVITE sip:user@example.com; lr SIP/2.0
To: sip:user@example.com;tag=3xfe-9921883-z9f
From: sip:caller@example.net;tag=231413434
Max-Forwards: 5
Call-ID: {cid}
CSeq: 2130706432 INVITE
Via: SIP/2.0/UDP 192.0.2.1:5060;branch={branch}
Contact: <sip:caller@host1.example.net>
Content-Type: application/sdp
Content-Length: {len}

""" + SDP),
    # 3.1.2.9 lwsstart: several spaces between the Request-Line's parts
    Torture("lwsstart", """INVITE  sip:user@example.com  SIP/2.0
Max-Forwards: 8
To: sip:user@example.com
From: sip:caller@example.net;tag=8814
Call-ID: {cid}
CSeq: 1893884 INVITE
Via: SIP/2.0/UDP host1.example.com;branch={branch}
Contact: <sip:caller@host1.example.net>
Content-Type: application/sdp
Content-Length: {len}

""" + SDP),
    # 3.1.2.10 trws: spaces after the SIP version
    Torture("trws", """OPTIONS sip:remote-target@example.com SIP/2.0<SP><SP>
Via: SIP/2.0/TCP host1.example.com;branch={branch}
To: <sip:remote-target@example.com>
From: <sip:local-resource@example.com>;tag=329429089
Call-ID: {cid}
CSeq: 3029832 OPTIONS
Max-Forwards: 70
Content-Length: 0

"""),
    # 3.1.2.11 escruri: a header smuggled into the Request-URI
    Torture("escruri", """INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=341518
Max-Forwards: 7
Contact: <sip:caller@host39923.example.net>
Call-ID: {cid}
CSeq: 39234321 INVITE
Via: SIP/2.0/UDP 192.0.2.1;branch={branch}
Content-Type: application/sdp
Content-Length: {len}

""" + SDP),
    # 3.1.2.12 baddate: a Date that is not GMT
    Torture("baddate", """INVITE sip:user@example.com SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=2234923
Max-Forwards: 70
Call-ID: {cid}
CSeq: 1392934 INVITE
Via: SIP/2.0/UDP host.example.com;branch={branch}
Date: Fri, 01 Jan 2010 16:00:00 EST
Contact: <sip:caller@host5.example.net>
Content-Type: application/sdp
Content-Length: {len}

""" + SDP),
    # 3.1.2.13 regbadct: a Contact URI with parameters but no <>
    Torture("regbadct", """REGISTER sip:example.com SIP/2.0
To: sip:user@example.com
From: sip:user@example.com;tag=998332
Max-Forwards: 70
Call-ID: {cid}
CSeq: 1 REGISTER
Via: SIP/2.0/UDP 135.180.130.133:5060;branch={branch}
Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E
l: 0

"""),
    # 3.1.2.14 badaspec: spaces inside an addr-spec
    Torture("badaspec", """OPTIONS sip:user@example.org SIP/2.0
Via: SIP/2.0/UDP host4.example.com:5060;branch={branch}
Max-Forwards: 70
From: "Bell, Alexander" <sip:a.g.bell@example.com>;tag=433423
To: "Watson, Thomas" < sip:t.watson@example.org >
Call-ID: {cid}
Accept: application/sdp
CSeq: 3923239 OPTIONS
l: 0

"""),
    # 3.1.2.15 baddn: non-token characters in an unquoted display name
    Torture("baddn", """OPTIONS sip:t.watson@example.org SIP/2.0
Via: SIP/2.0/UDP c.example.com:5060;branch={branch}
Max-Forwards: 70
From: Bell, Alexander <sip:a.g.bell@example.com>;tag=43
To: Watson, Thomas <sip:t.watson@example.org>
Call-ID: {cid}
Accept: application/sdp
CSeq: 3923239 OPTIONS
l: 0

"""),
    # 3.1.2.16 badvers: an unknown SIP version
    Torture("badvers", """OPTIONS sip:t.watson@example.org SIP/7.0
Via: SIP/7.0/UDP c.example.com;branch={branch}
Call-ID: {cid}
Max-Forwards: 70
From: A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe
To: T. Watson <sip:t.watson@example.org>
CSeq: 1 OPTIONS
l: 0

"""),
    # 3.1.2.17 mismatch01: the CSeq method is not the request's
    Torture("mismatch01", """OPTIONS sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=34525
Max-Forwards: 6
Call-ID: {cid}
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.1;branch={branch}
l: 0

"""),
    # 3.1.2.18 mismatch02: an unknown method with another CSeq method
    Torture("mismatch02", """NEWMETHOD sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=34525
Max-Forwards: 6
Call-ID: {cid}
CSeq: 8 INVITE
Contact: <sip:caller@host.example.net>
Via: SIP/2.0/UDP 192.0.2.1;branch={branch}
Content-Type: application/sdp
l: {len}

""" + SDP),
    # 3.1.2.19 bigcode: an overlarge response code (a response: nothing to answer)
    Torture("bigcode", """SIP/2.0 4294967301 better not break the receiver
Via: SIP/2.0/UDP 192.0.2.105;branch={branch}
Call-ID: {cid}
CSeq: 353494 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0
Contact: <sip:user@host105.example.com>

""", answerable=False),
    # 3.3.9 mcl01: several Content-Length values
    Torture("mcl01", """OPTIONS sip:user@example.com SIP/2.0
Via: SIP/2.0/UDP host5.example.net;branch={branch}
Max-Forwards: 70
To: sip:j.user@example.com
From: sip:caller@example.net;tag=93942939o2
Call-ID: {cid}
CSeq: 15932 OPTIONS
Content-Length: 13
Max-Forwards: 60
Content-Length: 5
Content-Type: text/plain

There's no way to know how many octets are supposed to be here.
"""),
    # 3.3.10 bcast: a response whose Via sends it to a broadcast address
    Torture("bcast", """SIP/2.0 200 OK
Via: SIP/2.0/UDP 192.0.2.198;branch={branch}
Via: SIP/2.0/UDP 127.255.255.255;branch=z9hG4bK1saber23
Call-ID: {cid}
CSeq: 35 INVITE
From: <sip:user@example.com>;tag=11141343
To: <sip:user@example.edu>;tag=2229
Content-Length: 0
Contact: <sip:user@host28.example.com>

""", answerable=False),
    # 3.3.11 insuf: required headers missing (no Call-ID to answer on: dropped or 400)
    Torture("insuf", """INVITE sip:user@example.com SIP/2.0
CSeq: 193942 INVITE
Via: SIP/2.0/UDP 192.0.2.95;branch={branch}
Content-Type: application/sdp
l: {len}

""" + SDP),
]
