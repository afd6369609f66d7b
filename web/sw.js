// Odeon's service worker: the whole static build works offline after one
// visit. Registered from index.html; `cargo xtask build` (xtask/src/dist.rs)
// fills in BUILD (a hash of every file in dist/) and FILES (every file but
// this one, source maps and the npm package folder npm/) below.
//
// - install: fetch FILES into the cache `odeon-<BUILD>` (`no-cache`: an
//   HTTP-cached copy is used only after the server confirms it is current,
//   so the copies belong to this build);
// - activate: delete other `odeon-` caches and take control of open pages;
// - fetch (same-origin GET only; URLs compared without query string, the
//   fragment never reaches a worker, `dir/` meaning `dir/index.html`):
//   a file of the build comes from the cache; any other file from the
//   network, keeping a copy of good answers for when the network is gone
//   (network first: BUILD does not follow such files, a cached copy could
//   be stale); offline, a page navigation falls back to the cached
//   index.html.
//
// Responses are cached whole, headers included: the page is cross-origin
// isolated only when its navigation response carries COOP/COEP, and that
// holds for answers from the cache too.
//
// A new build's worker installs beside the old one and waits until no page
// uses the old one (so a page never mixes two builds); a page may ask it to
// take over at once with postMessage({ type: 'skip-waiting' }).

const BUILD = '__ODEON_BUILD_VERSION__';
const FILES = [/* __ODEON_PRECACHE__ */];
const PREFIX = 'odeon-';
const CACHE = PREFIX + BUILD;
const INDEX = new URL('./index.html', self.registration.scope).href;
const PRECACHED = new Set(FILES.map((file) => new URL(file, self.registration.scope).href));

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) =>
      cache.addAll(FILES.map((file) => new Request(file, { cache: 'no-cache' })))),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    await Promise.all(
      names
        .filter((name) => name.startsWith(PREFIX) && name !== CACHE)
        .map((name) => caches.delete(name)),
    );
    await self.clients.claim();
  })());
});

self.addEventListener('message', (event) => {
  if (event.data && event.data.type === 'skip-waiting') self.skipWaiting();
});

/** The cache key of a request's URL: no query, no fragment, `/` -> `/index.html`. */
function cacheKey(url) {
  const key = new URL(url);
  key.search = '';
  key.hash = '';
  if (key.pathname.endsWith('/')) key.pathname += 'index.html';
  return key.href;
}

async function respond(event) {
  const { request } = event;
  const cache = await caches.open(CACHE);
  const key = cacheKey(request.url);
  if (PRECACHED.has(key)) {
    const cached = await cache.match(key);
    if (cached) return cached;
  }
  try {
    const response = await fetch(request);
    if (response.ok && response.type === 'basic') {
      // A copy for next time; the page need not wait for it, the worker must.
      event.waitUntil(cache.put(key, response.clone())
        .catch((err) => console.warn('odeon sw: cache put failed', err)));
    }
    return response;
  } catch (err) {
    const copy = (await cache.match(key)) ?? (request.mode === 'navigate' ? await cache.match(INDEX) : undefined);
    if (copy) return copy;
    throw err;
  }
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET') return;
  if (new URL(request.url).origin !== self.location.origin) return;
  // Range requests (media) go to the network: the cache holds whole files.
  if (request.headers.has('range')) return;
  event.respondWith(respond(event));
});
