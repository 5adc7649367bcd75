// Runs Lighthouse over the built site as `lhci collect` does, from the same
// lighthouserc.json (ci.collect: url, numberOfRuns, settings), and writes each
// result where `lhci assert` reads it (.lighthouseci/lhr-<time>.json).
//
// Why not `lhci collect` itself: it starts one Lighthouse process per run, and each
// process lingers about 4 s after its report is written, with its connection to
// Chrome closing (measured on Lighthouse 12.2.3): 12 runs, 50 s of waiting. Here
// one process runs them all in one Chrome. Lighthouse still clears the cache and
// the origin's storage before each navigation, so every run is a cold load.
//
// The site is served by Lighthouse CI's own static server (Express with gzip, as a
// static host serves it), on an ephemeral port on loopback.
//
// Usage: node collect.mjs <site-dir> <output-dir>
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import * as chromeLauncher from "chrome-launcher";
import lighthouse from "lighthouse";

const require = createRequire(import.meta.url);
const FallbackServer = require("@lhci/cli/src/collect/fallback-server.js");

const here = path.dirname(new URL(import.meta.url).pathname);
const [siteDir, outputDir] = process.argv.slice(2);
if (!siteDir || !outputDir) {
  console.error("usage: node collect.mjs <site-dir> <output-dir>");
  process.exit(2);
}
const rc = JSON.parse(fs.readFileSync(path.join(here, "lighthouserc.json"), "utf8"));
const { url: urls, numberOfRuns, settings } = rc.ci.collect;

const server = new FallbackServer(path.resolve(siteDir), false);
await server.listen();
const chrome = await chromeLauncher.launch({
  chromePath: process.env.CHROME_PATH || undefined,
  chromeFlags: settings.chromeFlags.split(/\s+/).filter(Boolean),
});
fs.mkdirSync(outputDir, { recursive: true });
let failed = false;
try {
  for (const raw of urls) {
    const url = new URL(raw);
    url.hostname = "127.0.0.1"; // loopback only, whatever the resolver says
    url.port = String(server.port);
    for (let run = 1; run <= numberOfRuns; run++) {
      const flags = { ...settings, port: chrome.port, output: "json", logLevel: "error" };
      delete flags.chromeFlags;
      const result = await lighthouse(url.href, flags);
      const lhr = result && result.lhr;
      if (!lhr || lhr.runtimeError) {
        console.error(`${url.pathname} run ${run}: ${lhr ? lhr.runtimeError.message : "no result"}`);
        failed = true;
        continue;
      }
      const file = path.join(outputDir, `lhr-${Date.now()}.json`);
      fs.writeFileSync(file, result.report);
      const score = Math.round(lhr.categories.performance.score * 100);
      const tbt = Math.round(lhr.audits["total-blocking-time"].numericValue);
      console.log(`${url.pathname} run ${run}: performance ${score}, TBT ${tbt} ms`);
    }
  }
} finally {
  await chrome.kill();
  await server.close();
}
// Exit now: the connections Lighthouse leaves to close would hold the process 4 s.
process.exit(failed ? 1 : 0);
