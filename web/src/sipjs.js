// Bundle entry: the global SIP namespace for pages (esbuild --global-name=SIP).
export * from "sip.js";
