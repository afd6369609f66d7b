// Bundles src/editor.js into one minified ES module (called by
// `cargo xtask build`; by hand: `npm ci && node build.mjs ../dist/editor.js`).
//
// Next to the bundle it writes editor.LICENSES.txt with the license texts of
// the npm packages inside it (CodeMirror and its helpers are MIT licensed),
// and prints the bundle's size, raw and gzipped.

import { build } from 'esbuild';
import { readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve, basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const outfile = resolve(process.argv[2] ?? join(here, '..', 'dist', 'editor.js'));
const licenses = outfile.replace(/\.js$/, '') + '.LICENSES.txt';

const result = await build({
  entryPoints: [join(here, 'src', 'editor.js')],
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020'],
  outfile,
  metafile: true,
  legalComments: 'none',
  banner: { js: `/* Odeon code-cell editor; bundles CodeMirror 6 (MIT), see ${basename(licenses)} */` },
  logLevel: 'warning',
});

// The npm packages whose files ended up in the bundle, with their licenses.
const packages = new Map();
for (const input of Object.keys(result.metafile.inputs)) {
  const m = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  if (!m || packages.has(m[1])) continue;
  const dir = join(here, 'node_modules', m[1]);
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const file = readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f));
  const text = file ? readFileSync(join(dir, file), 'utf8').trim() : `License: ${manifest.license}`;
  packages.set(m[1], { version: manifest.version, license: manifest.license, text });
}
const sections = [...packages].sort(([a], [b]) => a.localeCompare(b)).map(
  ([name, p]) => `${name} ${p.version} (${p.license})\n\n${p.text}\n`,
);
writeFileSync(
  licenses,
  `Third-party code in ${basename(outfile)}:\n\n${sections.join('\n' + '-'.repeat(72) + '\n\n')}`,
);

const bytes = readFileSync(outfile);
const gz = gzipSync(bytes, { level: 9 }).length;
console.log(
  `editor: ${basename(outfile)} ${bytes.length} bytes (${(bytes.length / 1024).toFixed(1)} KiB), ` +
    `gzip -9 ${gz} bytes (${(gz / 1024).toFixed(1)} KiB); ${packages.size} npm packages`,
);
