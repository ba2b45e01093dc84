// Shared by both test agents: remote audio played out, and audio counters from the call's
// RTCPeerConnection. Chrome decodes (and so measures) inbound audio only while the remote
// track plays somewhere: the agents put it in the page's <audio id=remote> element once the
// call is up, as a softphone must (taken from the receiver, whether or not the remote SDP
// names a stream for it).
window.playRemote = (pc) => {
  const audio = document.getElementById("remote");
  const tracks = pc.getReceivers().map((r) => r.track).filter((t) => t && t.kind === "audio");
  if (!audio || !tracks.length) return;
  const current = audio.srcObject && audio.srcObject.getAudioTracks()[0];
  if (current !== tracks[0]) {
    audio.srcObject = new MediaStream([tracks[0]]);
    audio.play().catch(() => {});
  }
};

window.audioStats = async () => {
  const pc = window.agent.peer();
  // transport: packets that reached the page's ICE transport, whatever RTP stream they belong to;
  // energy: totalAudioEnergy of the decoded inbound audio (0 for digital silence)
  const out = { sent: 0, received: 0, transport: 0, codec: "", energy: 0 };
  if (!pc) return out;
  const report = await pc.getStats();
  report.forEach((s) => {
    if (s.type === "outbound-rtp" && s.kind === "audio") out.sent += s.packetsSent || 0;
    if (s.type === "transport") out.transport += s.packetsReceived || 0;
    if (s.type === "inbound-rtp" && s.kind === "audio") {
      out.received += s.packetsReceived || 0;
      out.energy += s.totalAudioEnergy || 0;
      const codec = s.codecId && report.get(s.codecId);
      if (codec) out.codec = codec.mimeType;
    }
  });
  return out;
};
