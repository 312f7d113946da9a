// Live updates for the inbox and the conversation pages (no libraries; loaded from /static
// under the CSP "script-src 'self'"). The element marked data-hd-live names a server-sent
// event stream (data-events-url) and a fragment (data-fragment-url) that replaces the element
// with the id in data-fragment-target. The stream is read with fetch() and a ReadableStream,
// with the session cookie (same origin only), and says only *that* something changed; on each
// event the fragment is fetched again, through the same access rules as the page.
//
// When the stream ends (the server re-checks the session every 15 s and ends it when the
// session has), the script reconnects with back-off. A refusal (401/403/404) stops it and
// says the page is no longer live: reload to sign in again.
(function () {
  "use strict";

  const live = document.querySelector("[data-hd-live]");
  if (!live || !window.fetch || !window.ReadableStream || !window.TextDecoder) {
    return;
  }
  const eventsUrl = live.getAttribute("data-events-url");
  const fragmentUrl = live.getAttribute("data-fragment-url");
  const targetId = live.getAttribute("data-fragment-target");
  const state = document.getElementById("hd-live-state");
  const FIRST_DELAY_MS = 1000;
  const MAX_DELAY_MS = 30000;
  const RELOAD_GAP_MS = 250;
  let delay = FIRST_DELAY_MS;
  let connections = 0;
  let reloadTimer = null;
  let reloading = false;
  let reloadAgain = false;

  function say(text) {
    if (state) {
      state.textContent = text; // textContent: never parsed as HTML
    }
  }

  function replaceFragment(html) {
    const current = document.getElementById(targetId);
    if (!current) {
      return;
    }
    // The one place HTML is parsed: a fragment our own server rendered with Jinja's
    // autoescaping, so every customer- or team-written string in it is already escaped.
    // Nothing from the event stream itself is ever inserted into the page.
    const holder = document.createElement("template");
    holder.innerHTML = html;
    const fresh = holder.content.getElementById
      ? holder.content.getElementById(targetId)
      : holder.content.querySelector("#" + targetId);
    if (fresh) {
      current.replaceWith(fresh);
    }
  }

  async function reload() {
    if (reloading) {
      reloadAgain = true;
      return;
    }
    reloading = true;
    try {
      const response = await fetch(fragmentUrl, {
        credentials: "same-origin",
        headers: { accept: "text/html" },
        cache: "no-store",
        // A session that ended is sent to the sign-in page: not a fragment to swap in.
        redirect: "manual",
      });
      if (response.type === "opaqueredirect") {
        say("This page is no longer live. Reload it to see the latest.");
      } else if (response.ok) {
        replaceFragment(await response.text());
      } else if (response.status === 401 || response.status === 403 || response.status === 404) {
        say("This page is no longer live. Reload it to see the latest.");
      }
    } catch (error) {
      // A network blip: the next event or reconnection reloads again.
    } finally {
      reloading = false;
      if (reloadAgain) {
        reloadAgain = false;
        scheduleReload();
      }
    }
  }

  // A burst of events (a reply streamed in, a hand-off) becomes one fetch.
  function scheduleReload() {
    if (reloadTimer !== null) {
      return;
    }
    reloadTimer = window.setTimeout(function () {
      reloadTimer = null;
      reload();
    }, RELOAD_GAP_MS);
  }

  // One server-sent event block ("event:" and "data:" lines; ":" lines are comments).
  function handleBlock(block) {
    let name = "message";
    let hasData = false;
    block.split("\n").forEach(function (line) {
      if (line.startsWith("event:")) {
        name = line.slice(6).trim();
      } else if (line.startsWith("data:")) {
        hasData = true;
      }
    });
    if (hasData && (name === "conversation" || name === "message" || name === "status" || name === "resync")) {
      scheduleReload();
    }
  }

  async function readStream(body) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffered = "";
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) {
        return;
      }
      buffered += decoder.decode(chunk.value, { stream: true }).replace(/\r\n?/g, "\n");
      let end = buffered.indexOf("\n\n");
      while (end >= 0) {
        handleBlock(buffered.slice(0, end));
        buffered = buffered.slice(end + 2);
        end = buffered.indexOf("\n\n");
      }
    }
  }

  async function connect() {
    let response;
    try {
      response = await fetch(eventsUrl, {
        credentials: "same-origin",
        headers: { accept: "text/event-stream" },
        cache: "no-store",
      });
    } catch (error) {
      retry();
      return;
    }
    if (response.status === 401 || response.status === 403 || response.status === 404) {
      say("This page is no longer live. Reload it to see the latest.");
      return;
    }
    if (!response.ok || !response.body) {
      retry();
      return;
    }
    connections += 1;
    delay = FIRST_DELAY_MS;
    say("");
    if (connections > 1) {
      // Whatever changed while we were away.
      scheduleReload();
    }
    try {
      await readStream(response.body);
    } catch (error) {
      // The connection broke: reconnect below.
    }
    retry();
  }

  function retry() {
    say("Reconnecting…");
    const wait = delay + Math.floor(Math.random() * 500);
    delay = Math.min(delay * 2, MAX_DELAY_MS);
    window.setTimeout(connect, wait);
  }

  connect();
})();
