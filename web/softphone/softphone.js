// Agent softphone on JsSIP: log in (REGISTER over the WebSocket this page came from), dial,
// answer, hang up, hold, blind transfer, and why the edge refused a call. The agent's own
// state (pause, DND, session timers) comes from the agent API (/agent/v1) with the same
// extension and password, by HTTP Digest.
(() => {
  const $ = (id) => document.getElementById(id);
  // rtcOfferConstraints: answering an INVITE without SDP (late offer), JsSIP offers audio only if told to.
  const media = {
    mediaConstraints: { audio: true, video: false }, pcConfig: { iceServers: [] },
    rtcOfferConstraints: { offerToReceiveAudio: true },
  };
  // Browsers offer the microphone to secure pages only (https, or http on localhost).
  const micOk = window.isSecureContext && !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
  const NO_MIC = "microphone unavailable: this page is not a secure context (open it over https or on http://127.0.0.1)";
  // State changes the page did not make (admin API, a desk phone's feature code) show within
  // this; the page's own actions and calls refresh at once. Timers tick every second locally.
  const POLL_MS = 30000;
  let ua = null;
  let session = null;
  let reoffering = false; // a hold or resume re-INVITE is in flight: JsSIP takes no other
  let domain = "";
  let api = null; // the logged-in agent's API client; replaced at each login
  let agentState = null; // the last state the API returned, and the clock offset to the server
  let poller = null;
  setInterval(() => tick(), 1000);

  const wsUrl = () => `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}`;
  const text = (id, value) => { $(id).textContent = value; };

  function buttons() {
    const registered = ua !== null && ua.isRegistered();
    const live = session !== null && !session.isEnded();
    const ringing = live && session.direction === "incoming" && !session.isEstablished();
    $("call").disabled = !registered || live;
    $("answer").disabled = !ringing || !micOk;
    $("decline").disabled = !ringing;
    $("hangup").disabled = !live || ringing;
    $("hold").disabled = !live || !session.isEstablished() || reoffering;
    $("transfer").disabled = !live || !session.isEstablished();
    $("hold").textContent = live && session.isOnHold().local ? "Resume" : "Hold";
    $("login").disabled = ua !== null;
    $("logout").disabled = ua === null;
    const known = api !== null && agentState !== null;
    $("pause").disabled = !known || $("pause-type").options.length === 0;
    $("unpause").disabled = !known || agentState.status !== "paused";
    $("dnd").disabled = !known;
    $("dnd").textContent = known && agentState.dnd ? "DND off" : "DND on";
  }

  // -- the agent API: HTTP Digest (qop=auth, MD5) over the agent's SIP HA1 ------------------
  function agentApi(user, password, realm) {
    const md5 = JsSIP.Utils.calculateMD5;
    const ha1 = md5(`${user}:${realm}:${password}`);
    let nonce = null;
    let nc = 0;
    const hex = (n) => Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, "0")).join("");

    function authorization(method, uri) {
      nc += 1;
      const count = nc.toString(16).padStart(8, "0");
      const cnonce = hex(8);
      const response = md5(`${ha1}:${nonce}:${count}:${cnonce}:auth:${md5(`${method}:${uri}`)}`);
      return `Digest username="${user}", realm="${realm}", nonce="${nonce}", uri="${uri}", ` +
        `response="${response}", qop=auth, nc=${count}, cnonce="${cnonce}", algorithm=MD5`;
    }

    async function request(method, path, body) {
      const uri = `/agent/v1${path}?domain=${encodeURIComponent(realm)}`;
      for (let attempt = 0; attempt < 2; attempt += 1) {
        const headers = body === undefined ? {} : { "Content-Type": "application/json" };
        if (nonce) headers.Authorization = authorization(method, uri);
        const resp = await fetch(uri, { method, headers, credentials: "omit", cache: "no-store",
          body: body === undefined ? undefined : JSON.stringify(body) });
        const data = await resp.json();
        const challenge = /nonce="([^"]+)"/.exec(resp.headers.get("WWW-Authenticate") || "");
        if (resp.status === 401 && challenge && (attempt === 0 || !nonce)) {
          nonce = challenge[1];
          nc = 0;
          continue;
        }
        if (!resp.ok) throw new Error(`${resp.status} ${data.error || ""}`.trim());
        return data;
      }
      throw new Error("401 wrong extension or password");
    }
    return { request };
  }

  const clock = (seconds) => {
    if (seconds === null || seconds === undefined || seconds < 0) return "–";
    const s = Math.floor(seconds);
    const two = (n) => String(n).padStart(2, "0");
    return `${two(Math.floor(s / 3600))}:${two(Math.floor(s / 60) % 60)}:${two(s % 60)}`;
  };

  function tick() {
    if (agentState === null) return;
    const now = Date.now() / 1000 + agentState.offset;
    text("session-timer", agentState.session ? clock(now - agentState.session.started_at) : "–");
    text("state-timer", agentState.since !== null ? clock(now - agentState.since) : "–");
  }

  function showState(client, data) {
    if (client !== api) return; // an answer for a login that is over
    agentState = { ...data, offset: data.now - Date.now() / 1000 };
    text("agent-error", "");
    text("agent-state", data.state);
    const blocking = data.pause_blocks && data.session && data.session.block_calls_during_pause;
    text("pause-state", data.status === "paused"
      ? `paused (${data.pause})${blocking ? ": new calls are blocked" : ""}` : "available");
    text("dnd-state", data.dnd ? "on" : "off");
    text("auto-answer-state", data.auto_answer ? "on" : "off");
    const select = $("pause-type");
    const names = data.pause_types.length ? data.pause_types.map((t) => t.name) : ["Pause"];
    if (Array.from(select.options, (o) => o.value).join("|") !== names.join("|")) {
      select.replaceChildren(...names.map((name) => new Option(name, name)));
    }
    tick();
    buttons();
  }

  function refreshState(change) {
    const client = api;
    if (client === null) return Promise.resolve();
    const request = change ? client.request("PUT", change.path, change.body) : client.request("GET", "/state");
    return request.then((data) => showState(client, data), (e) => {
      if (client === api) text("agent-error", `(${e.message})`);
    });
  }

  function forgetState() {
    clearInterval(poller);
    poller = null;
    api = null;
    agentState = null;
    for (const id of ["pause-state", "dnd-state", "auto-answer-state", "session-timer", "state-timer"]) text(id, "–");
    text("agent-state", "logged out");
    text("agent-error", "");
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
      buttons();
    });
    s.on("ended", () => { reoffering = false; text("call-state", "ended"); refreshState(); buttons(); });
    s.on("failed", (e) => {
      reoffering = false;
      text("call-state", "failed");
      text("reason", refused(e));
      refreshState(); // a feature code (*40...) changed the state, or a refusal said why
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
    const user = $("user").value.trim();
    const me = new JsSIP.UA({
      sockets: [new JsSIP.WebSocketInterface(wsUrl())],
      uri: `sip:${user}@${domain}`,
      password: $("password").value,
      register: true,
      session_timers: false,
    });
    ua = me;
    api = agentApi(user, $("password").value, domain);
    text("reg-state", "registering…");
    text("agent-state", "logging in…");
    // A logged-out UA still reports its unregistration and disconnection after a new login
    // started: only the current UA may write to the page.
    const on = (event, handler) => me.on(event, (e) => { if (ua === me) handler(e); });
    on("registered", () => {
      text("reg-state", "registered");
      refreshState();
      if (poller === null) poller = setInterval(() => refreshState(), POLL_MS);
      buttons();
    });
    on("unregistered", () => { text("reg-state", "unregistered"); buttons(); });
    on("registrationFailed", (e) => { text("reg-state", `failed: ${refused(e)}`); buttons(); });
    on("disconnected", () => { text("reg-state", "disconnected"); buttons(); });
    on("newRTCSession", (e) => {
      if (e.originator !== "remote") return;
      if (session && !session.isEnded()) {
        e.session.terminate({ status_code: 486, reason_phrase: "Busy Here" });
        return;
      }
      track(e.session);
      text("call-state", `incoming from ${e.request.from.uri.user}`);
    });
    me.start();
    buttons();
  });

  $("logout").addEventListener("click", () => {
    ua.stop();
    ua = null;
    forgetState();
    text("reg-state", "logged out");
    buttons();
  });

  $("dial-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (!micOk) { // JsSIP would wait for a microphone that never comes
      text("call-state", "failed");
      text("reason", NO_MIC);
      return;
    }
    text("call-state", "calling…");
    track(ua.call(`sip:${$("number").value.trim()}@${domain}`, media));
  });
  $("pause").addEventListener("click", () =>
    refreshState({ path: "/status", body: { status: "paused", pause: $("pause-type").value } }));
  $("unpause").addEventListener("click", () => refreshState({ path: "/status", body: { status: "available" } }));
  $("dnd").addEventListener("click", () => refreshState({ path: "/dnd", body: { dnd: !agentState.dnd } }));
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
  if (!micOk) {
    $("mic-state").hidden = false;
    text("mic-state", NO_MIC[0].toUpperCase() + NO_MIC.slice(1));
  }
  buttons();
})();
