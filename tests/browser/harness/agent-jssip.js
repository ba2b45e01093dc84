// Test agent on JsSIP: the same window.agent API as agent-sipjs.js, for the browser tests.
(() => {
  let ua = null;
  let session = null;
  let domain = "";
  const incoming = [];
  const media = { audio: true, video: false };
  const pcConfig = { iceServers: [] }; // no STUN: nothing leaves the test's own network
  // An INVITE without SDP (late offer): JsSIP asks for no microphone unless told to offer audio.
  const rtcOfferConstraints = { offerToReceiveAudio: true };

  function established(s) {
    return new Promise((resolve, reject) => {
      s.on("confirmed", () => {
        window.playRemote(s.connection);
        resolve("confirmed");
      });
      s.on("failed", (e) => reject(new Error(`call failed: ${e.cause}`)));
    });
  }

  window.agent = {
    client: "jssip",
    start(cfg) {
      domain = cfg.domain;
      return new Promise((resolve, reject) => {
        ua = new JsSIP.UA({
          sockets: [new JsSIP.WebSocketInterface(cfg.ws)],
          uri: `sip:${cfg.user}@${cfg.domain}`,
          password: cfg.password,
          register: true,
          session_timers: false,
        });
        ua.on("registered", () => resolve("registered"));
        ua.on("registrationFailed", (e) => reject(new Error(`registration failed: ${e.cause}`)));
        ua.on("newRTCSession", (e) => {
          if (e.originator === "remote") incoming.push(e.session);
        });
        ua.start();
      });
    },
    call(target) {
      session = ua.call(`sip:${target}@${domain}`, { mediaConstraints: media, pcConfig });
      return established(session);
    },
    async answer(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (!incoming.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (!incoming.length) throw new Error("no incoming call");
      session = incoming.shift();
      const done = established(session);
      session.answer({ mediaConstraints: media, pcConfig, rtcOfferConstraints });
      return done;
    },
    hold() {
      return new Promise((resolve, reject) => {
        if (!session.hold({}, () => resolve("held"))) reject(new Error("hold refused"));
      });
    },
    unhold() {
      return new Promise((resolve, reject) => {
        if (!session.unhold({}, () => resolve("resumed"))) reject(new Error("unhold refused"));
      });
    },
    record(word) {
      // The agent's record key: an INFO with a Record header, answered by the edge itself.
      // JsSIP reports the answer on the Info object it announces in "newInfo".
      return new Promise((resolve) => {
        const announced = (e) => {
          if (e.originator !== "local") return;
          session.removeListener("newInfo", announced);
          e.info.on("succeeded", (r) => resolve(r.response.status_code));
          e.info.on("failed", (r) => resolve(r.response.status_code));
        };
        session.on("newInfo", announced);
        session.sendInfo("application/x-edge-record", word, { extraHeaders: [`Record: ${word}`] });
      });
    },
    hangup() {
      session.terminate();
    },
    ended() {
      return session !== null && session.isEnded();
    },
    peer() {
      return session && session.connection;
    },
  };
})();
