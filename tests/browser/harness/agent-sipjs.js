// Test agent on SIP.js: the same window.agent API as agent-jssip.js, for the browser tests.
(() => {
  const { UserAgent, Registerer, RegistererState, Inviter, SessionState } = SIP;
  let ua = null;
  let session = null;
  let domain = "";
  const incoming = [];
  const options = { sessionDescriptionHandlerOptions: { constraints: { audio: true, video: false } } };

  function established(s) {
    return new Promise((resolve, reject) => {
      s.stateChange.addListener((state) => {
        if (state === SessionState.Established) {
          window.playRemote(s.sessionDescriptionHandler.peerConnection);
          resolve("confirmed");
        }
        if (state === SessionState.Terminated) reject(new Error("call ended before it was established"));
      });
    });
  }

  function reinvite(hold) {
    return new Promise((resolve, reject) => {
      session.sessionDescriptionHandlerOptionsReInvite = { hold };
      session
        .invite({
          requestDelegate: {
            onAccept: () => resolve(hold ? "held" : "resumed"),
            onReject: (r) => reject(new Error(`re-INVITE rejected: ${r.message.statusCode}`)),
          },
        })
        .catch(reject);
    });
  }

  window.agent = {
    client: "sipjs",
    async start(cfg) {
      domain = cfg.domain;
      ua = new UserAgent({
        uri: UserAgent.makeURI(`sip:${cfg.user}@${cfg.domain}`),
        transportOptions: { server: cfg.ws },
        authorizationUsername: cfg.user,
        authorizationPassword: cfg.password,
        // no STUN (SIP.js defaults to a public server): nothing leaves the test's own network
        sessionDescriptionHandlerFactoryOptions: { peerConnectionConfiguration: { iceServers: [] } },
        delegate: { onInvite: (invitation) => incoming.push(invitation) },
      });
      await ua.start();
      const registerer = new Registerer(ua);
      const registered = new Promise((resolve, reject) => {
        registerer.stateChange.addListener((state) => {
          if (state === RegistererState.Registered) resolve("registered");
        });
        setTimeout(() => reject(new Error("registration timed out")), 10000);
      });
      await registerer.register({
        requestDelegate: { onReject: (r) => console.log(`REGISTER rejected: ${r.message.statusCode}`) },
      });
      return registered;
    },
    call(target) {
      session = new Inviter(ua, UserAgent.makeURI(`sip:${target}@${domain}`), options);
      const done = established(session);
      session.invite().catch(() => {});
      return done;
    },
    async answer(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (!incoming.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (!incoming.length) throw new Error("no incoming call");
      session = incoming.shift();
      const done = established(session);
      session.accept(options);
      return done;
    },
    hold() {
      return reinvite(true);
    },
    unhold() {
      return reinvite(false);
    },
    record(word) {
      // The agent's record key: an INFO with a Record header, answered by the edge itself.
      return new Promise((resolve) => {
        session.info({
          requestDelegate: {
            onAccept: (r) => resolve(r.message.statusCode),
            onReject: (r) => resolve(r.message.statusCode),
          },
          requestOptions: { extraHeaders: [`Record: ${word}`] },
        });
      });
    },
    hangup() {
      if (session.state === SessionState.Established) session.bye();
      else if (session instanceof Inviter) session.cancel();
      else session.reject();
    },
    ended() {
      return session !== null && session.state === SessionState.Terminated;
    },
    peer() {
      return session && session.sessionDescriptionHandler && session.sessionDescriptionHandler.peerConnection;
    },
  };
})();
