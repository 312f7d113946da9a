// Hushdesk chat widget loader: runs in the business's own (host) page.
//
// Embed: <script src="https://hushdesk.example/static/widget/loader.js" defer
//                data-hushdesk-agent="hd_pk_..." data-hushdesk-user="<optional JWT>"></script>
//
// It asks Hushdesk for a widget session (POST /widget/v1/sessions, cross-origin, no cookies).
// Hushdesk answers with CORS headers only when this page's origin is one of the agent's
// allowed domains; any other answer (or a refused fetch) means "show nothing": no element is
// added and at most one console.warn line is written, which never contains the key or the JWT.
// On success it adds a launcher button and a hidden iframe whose src is
// frame_url + "#" + bootstrap: the fragment is never sent to a server nor put in a Referer.
//
// Styling choice: inline style properties set through the CSSOM (element.style.setProperty),
// not a stylesheet and not a <style> in a Shadow DOM root. A host page with a strict CSP
// ("style-src 'self'") blocks <style> elements and style="" attributes it did not serve, but
// the CSSOM is not subject to style-src, so this works on any host. Each element first gets
// "all: initial" and every property is set with !important priority: inline !important beats
// any host rule, so host CSS can neither restyle nor reveal our elements. The elements stay in
// the light DOM so that a host (and our tests) can find #hushdesk-widget, #hushdesk-launcher
// and #hushdesk-frame with document.getElementById.
//
// No messages are exchanged with the iframe (no postMessage): the host page never learns what
// is said in the chat, and the iframe never trusts anything that comes from the host.
(function () {
  "use strict";

  const ROOT_ID = "hushdesk-widget";
  const LAUNCHER_ID = "hushdesk-launcher";
  const FRAME_ID = "hushdesk-frame";
  const LABEL = "Chat with us";

  function findScript() {
    const current = document.currentScript;
    if (current && current.hasAttribute("data-hushdesk-agent")) {
      return current;
    }
    return document.querySelector("script[data-hushdesk-agent]");
  }

  function warnOnce(reason) {
    // One line, never the key or the user token: both may end up in a host's log collector.
    if (window.console && typeof window.console.warn === "function") {
      window.console.warn("Hushdesk: the chat widget is not available on this page (" + reason + ").");
    }
  }

  function applyStyle(element, properties) {
    element.style.setProperty("all", "initial", "important");
    Object.keys(properties).forEach(function (name) {
      element.style.setProperty(name, properties[name], "important");
    });
  }

  function frameSource(base, answer) {
    // The frame must come from the same Hushdesk origin as this script: never follow an
    // answer that points the visitor's chat at another site.
    if (!answer || typeof answer.frame_url !== "string" || typeof answer.bootstrap !== "string") {
      return null;
    }
    if (answer.bootstrap === "" || answer.bootstrap.indexOf("#") !== -1) {
      return null;
    }
    let url;
    try {
      url = new URL(answer.frame_url, base);
    } catch (error) {
      return null;
    }
    if (url.origin !== base) {
      return null;
    }
    url.hash = "";
    return url.href + "#" + answer.bootstrap;
  }

  function buildWidget(src) {
    const root = document.createElement("div");
    root.id = ROOT_ID;
    applyStyle(root, {
      display: "block",
      position: "fixed",
      right: "16px",
      bottom: "16px",
      "z-index": "2147483647",
      width: "0",
      height: "0",
      overflow: "visible",
    });

    const frame = document.createElement("iframe");
    frame.id = FRAME_ID;
    frame.title = "Chat";
    // Scripts and forms run in the frame's own (Hushdesk) origin; no popups, no top-level
    // navigation, no downloads, no modals. allow-same-origin keeps that origin so the frame
    // can call its API and use its sessionStorage; it grants nothing over the host page.
    frame.setAttribute("sandbox", "allow-scripts allow-same-origin allow-forms");
    frame.setAttribute("referrerpolicy", "no-referrer");
    frame.setAttribute("allow", "");
    frame.hidden = true;
    applyStyle(frame, {
      display: "none",
      position: "absolute",
      right: "0",
      bottom: "64px",
      width: "min(380px, calc(100vw - 32px))",
      height: "min(600px, calc(100vh - 96px))",
      border: "1px solid rgba(0, 0, 0, 0.15)",
      "border-radius": "12px",
      "box-shadow": "0 8px 32px rgba(0, 0, 0, 0.25)",
      // The frame's own page paints its (light or dark) background.
      "background-color": "transparent",
    });

    const launcher = document.createElement("button");
    launcher.id = LAUNCHER_ID;
    launcher.type = "button";
    launcher.textContent = LABEL;
    launcher.setAttribute("aria-label", LABEL);
    launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-controls", FRAME_ID);
    const launcherStyle = {
      display: "block",
      position: "absolute",
      right: "0",
      bottom: "0",
      "box-sizing": "border-box",
      height: "48px",
      padding: "0 20px",
      border: "0",
      "border-radius": "24px",
      "background-color": "#1f4fd1",
      color: "#ffffff",
      font: "600 15px/48px system-ui, -apple-system, \"Segoe UI\", Roboto, sans-serif",
      "white-space": "nowrap",
      cursor: "pointer",
      "box-shadow": "0 4px 16px rgba(0, 0, 0, 0.25)",
      outline: "none",
    };
    applyStyle(launcher, launcherStyle);

    // "all: initial" also removes the browser's focus ring, so draw our own for keyboard users.
    launcher.addEventListener("focus", function () {
      launcher.style.setProperty("outline", "3px solid #ffbf47", "important");
      launcher.style.setProperty("outline-offset", "2px", "important");
    });
    launcher.addEventListener("blur", function () {
      launcher.style.setProperty("outline", "none", "important");
    });

    function setOpen(open) {
      launcher.setAttribute("aria-expanded", open ? "true" : "false");
      frame.hidden = !open;
      frame.style.setProperty("display", open ? "block" : "none", "important");
      if (open) {
        // Focus moves into the frame; widget.js then focuses its first control.
        frame.focus();
      } else {
        launcher.focus();
      }
    }

    launcher.addEventListener("click", function () {
      setOpen(launcher.getAttribute("aria-expanded") !== "true");
    });
    launcher.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && launcher.getAttribute("aria-expanded") === "true") {
        setOpen(false);
      }
    });

    // The src is set before the frame is shown: the bootstrap lives 60 s, so the frame
    // exchanges it at once while still hidden rather than when the visitor opens the chat.
    frame.src = src;
    root.appendChild(frame);
    root.appendChild(launcher);
    return root;
  }

  function whenBodyReady(callback) {
    if (document.body) {
      callback();
      return;
    }
    document.addEventListener("DOMContentLoaded", callback, { once: true });
  }

  function start() {
    if (document.getElementById(ROOT_ID)) {
      return; // Loaded twice on one page: keep the first widget.
    }
    const script = findScript();
    if (!script) {
      return;
    }
    const agent = script.getAttribute("data-hushdesk-agent") || "";
    const user = script.getAttribute("data-hushdesk-user") || "";
    let base;
    try {
      base = new URL(script.src).origin;
    } catch (error) {
      warnOnce("bad script address");
      return;
    }
    if (agent === "" || base === "null") {
      warnOnce("missing configuration");
      return;
    }
    const body = { agent: agent };
    if (user !== "") {
      body.user = user;
    }
    // The key is in the query too: the browser's CORS preflight carries no body, and the
    // server needs to know whose allowed domains to check.
    fetch(base + "/widget/v1/sessions?agent=" + encodeURIComponent(agent), {
      method: "POST",
      mode: "cors",
      credentials: "omit",
      cache: "no-store",
      referrerPolicy: "strict-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("status " + response.status);
        }
        return response.json();
      })
      .then(function (answer) {
        const src = frameSource(base, answer);
        if (src === null) {
          throw new Error("unexpected answer");
        }
        whenBodyReady(function () {
          if (!document.getElementById(ROOT_ID)) {
            document.body.appendChild(buildWidget(src));
          }
        });
      })
      .catch(function (error) {
        // A CORS refusal surfaces as a TypeError with no status: say only that much.
        const reason = error && /^status \d+$|^unexpected answer$/.test(error.message)
          ? error.message
          : "request refused";
        warnOnce(reason);
      });
  }

  start();
})();
