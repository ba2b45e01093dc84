// Agent softphone on JsSIP: log in (REGISTER over the WebSocket this page came from), dial,
// answer, hang up, hold, blind transfer, and why the edge refused a call (pause state).
(() => {
  const $ = (id) => document.getElementById(id);
  // rtcOfferConstraints: answering an INVITE without SDP (late offer), JsSIP offers audio only if told to.
  const media = {
    mediaConstraints: { audio: true, video: false }, pcConfig: { iceServers: [] },
    rtcOfferConstraints: { offerToReceiveAudio: true },
  };
  let ua = null;
  let session = null;
  let reoffering = false; // a hold or resume re-INVITE is in flight: JsSIP takes no other
  let domain = "";

  const wsUrl = () => `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}`;
  const text = (id, value) => { $(id).textContent = value; };

  function buttons() {
    const registered = ua !== null && ua.isRegistered();
    const live = session !== null && !session.isEnded();
    const ringing = live && session.direction === "incoming" && !session.isEstablished();
    $("call").disabled = !registered || live;
    $("answer").disabled = !ringing;
    $("decline").disabled = !ringing;
    $("hangup").disabled = !live || ringing;
    $("hold").disabled = !live || !session.isEstablished() || reoffering;
    $("transfer").disabled = !live || !session.isEstablished();
    $("hold").textContent = live && session.isOnHold().local ? "Resume" : "Hold";
    $("login").disabled = ua !== null;
    $("logout").disabled = ua === null;
  }

  function refused(e) {
    // The edge says why: "403 Calls blocked during pause: Break" with X-Edge-Pause: Break.
    const response = e.message && e.message.status_code ? e.message : null;
    if (!response) return `${e.cause}`;
    const pause = response.getHeader("X-Edge-Pause");
    if (pause) text("pause-state", `paused (${pause}): new calls are blocked`);
    return `${response.status_code} ${response.reason_phrase}`;
  }

  function track(s) {
    session = s;
    text("reason", "");
    s.on("progress", () => text("call-state", "ringing"));
    s.on("confirmed", () => {
      text("call-state", "talking");
      if ($("pause-state").textContent.startsWith("paused")) text("pause-state", "not blocking calls");
      buttons();
    });
    s.on("ended", () => { reoffering = false; text("call-state", "ended"); buttons(); });
    s.on("failed", (e) => {
      reoffering = false;
      text("call-state", "failed");
      text("reason", refused(e));
      buttons();
    });
    s.on("peerconnection", (e) => attachAudio(e.peerconnection));
    if (s.connection) attachAudio(s.connection);
    buttons();
  }

  function attachAudio(pc) {
    pc.addEventListener("track", (e) => { $("remote").srcObject = e.streams[0]; });
  }

  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    domain = $("domain").value.trim();
    ua = new JsSIP.UA({
      sockets: [new JsSIP.WebSocketInterface(wsUrl())],
      uri: `sip:${$("user").value.trim()}@${domain}`,
      password: $("password").value,
      register: true,
      session_timers: false,
    });
    text("reg-state", "registering…");
    ua.on("registered", () => { text("reg-state", "registered"); buttons(); });
    ua.on("unregistered", () => { text("reg-state", "unregistered"); buttons(); });
    ua.on("registrationFailed", (e) => { text("reg-state", `failed: ${refused(e)}`); buttons(); });
    ua.on("disconnected", () => { text("reg-state", "disconnected"); buttons(); });
    ua.on("newRTCSession", (e) => {
      if (e.originator !== "remote") return;
      if (session && !session.isEnded()) {
        e.session.terminate({ status_code: 486, reason_phrase: "Busy Here" });
        return;
      }
      track(e.session);
      text("call-state", `incoming from ${e.request.from.uri.user}`);
    });
    ua.start();
    buttons();
  });

  $("logout").addEventListener("click", () => {
    ua.stop();
    ua = null;
    text("reg-state", "logged out");
    buttons();
  });

  $("dial-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    text("call-state", "calling…");
    track(ua.call(`sip:${$("number").value.trim()}@${domain}`, media));
  });
  $("answer").addEventListener("click", () => session.answer(media));
  $("decline").addEventListener("click", () => session.terminate({ status_code: 486, reason_phrase: "Busy Here" }));
  $("hangup").addEventListener("click", () => session.terminate());
  $("hold").addEventListener("click", () => {
    const resume = session.isOnHold().local;
    const done = () => { reoffering = false; text("call-state", resume ? "talking" : "on hold"); buttons(); };
    reoffering = resume ? session.unhold({}, done) : session.hold({}, done);
    if (reoffering) text("call-state", resume ? "resuming…" : "holding…");
    buttons();
  });
  $("transfer-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const target = `sip:${$("transfer-to").value.trim()}@${domain}`;
    session.refer(target, {
      eventHandlers: {
        accepted: () => { text("call-state", "transferred"); session.terminate(); },
        failed: (e) => text("reason", `transfer failed: ${refused(e)}`),
      },
    });
  });

  // For tests and the curious: the live call's RTCPeerConnection.
  window.softphone = { peer: () => session && session.connection };
  buttons();
})();
