// Bundle entry: the global JsSIP object for pages (esbuild --global-name=JsSIP).
module.exports = require("jssip");
