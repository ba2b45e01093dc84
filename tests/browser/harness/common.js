// Shared by both test agents: audio packet counters from the call's RTCPeerConnection.
window.audioStats = async () => {
  const pc = window.agent.peer();
  // transport: packets that reached the page's ICE transport, whatever RTP stream they belong to
  const out = { sent: 0, received: 0, transport: 0, codec: "" };
  if (!pc) return out;
  const report = await pc.getStats();
  report.forEach((s) => {
    if (s.type === "outbound-rtp" && s.kind === "audio") out.sent += s.packetsSent || 0;
    if (s.type === "transport") out.transport += s.packetsReceived || 0;
    if (s.type === "inbound-rtp" && s.kind === "audio") {
      out.received += s.packetsReceived || 0;
      const codec = s.codecId && report.get(s.codecId);
      if (codec) out.codec = codec.mimeType;
    }
  });
  return out;
};
