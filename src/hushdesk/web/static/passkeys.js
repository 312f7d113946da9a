// Passkey ceremonies for the dashboard (no libraries; loaded from /static under the CSP
// "script-src 'self'"). Each element with data-passkey="register|sign-in|second-factor|step-up"
// names its two endpoints in data-options-url and data-verify-url and the session's CSRF token
// in data-csrf-token. Its [data-passkey-start] button runs the ceremony: POST the options URL,
// call navigator.credentials, POST the answer, then follow the "redirect" of the reply.
// Problems are shown in its [data-passkey-problem] element (role="alert").
(function () {
  "use strict";

  // The partials may both be on one page, each with this script.
  if (window.hushdeskPasskeys) {
    return;
  }
  window.hushdeskPasskeys = true;

  function toBase64url(buffer) {
    const bytes = new Uint8Array(buffer);
    let binary = "";
    for (let i = 0; i < bytes.length; i += 1) {
      binary += String.fromCharCode(bytes[i]);
    }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function fromBase64url(text) {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const binary = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i += 1) {
      bytes[i] = binary.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function descriptors(list) {
    return (list || []).map(function (item) {
      return Object.assign({}, item, { id: fromBase64url(item.id) });
    });
  }

  function creationOptions(json) {
    return Object.assign({}, json, {
      challenge: fromBase64url(json.challenge),
      user: Object.assign({}, json.user, { id: fromBase64url(json.user.id) }),
      excludeCredentials: descriptors(json.excludeCredentials),
    });
  }

  function requestOptions(json) {
    return Object.assign({}, json, {
      challenge: fromBase64url(json.challenge),
      allowCredentials: descriptors(json.allowCredentials),
    });
  }

  function credentialJSON(credential) {
    const response = credential.response;
    const body = {
      clientDataJSON: toBase64url(response.clientDataJSON),
    };
    if (response.attestationObject) {
      body.attestationObject = toBase64url(response.attestationObject);
      body.transports = typeof response.getTransports === "function" ? response.getTransports() : [];
    } else {
      body.authenticatorData = toBase64url(response.authenticatorData);
      body.signature = toBase64url(response.signature);
      if (response.userHandle && response.userHandle.byteLength > 0) {
        body.userHandle = toBase64url(response.userHandle);
      }
    }
    const json = {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      response: body,
      clientExtensionResults: credential.getClientExtensionResults(),
    };
    if (credential.authenticatorAttachment) {
      json.authenticatorAttachment = credential.authenticatorAttachment;
    }
    return json;
  }

  class ServerError extends Error {
    constructor(message, code) {
      super(message);
      this.code = code;
    }
  }

  async function post(url, csrfToken, body) {
    const headers = { Accept: "application/json", "Content-Type": "application/json" };
    if (csrfToken) {
      headers["X-CSRF-Token"] = csrfToken;
    }
    const reply = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: headers,
      body: JSON.stringify(body || {}),
    });
    let data = null;
    try {
      data = await reply.json();
    } catch (ignored) {
      data = null;
    }
    if (!reply.ok) {
      const error = (data && data.error) || {};
      throw new ServerError(error.message || "Something went wrong. Try again.", error.code || "");
    }
    return data;
  }

  function describe(error) {
    if (error instanceof ServerError) {
      return error.message;
    }
    if (error && error.name === "NotAllowedError") {
      return "The passkey request was cancelled or timed out.";
    }
    if (error && error.name === "InvalidStateError") {
      return "This device already holds a passkey for this account.";
    }
    if (error && error.name === "SecurityError") {
      return "Passkeys do not work at this address. Open Hushdesk at its public address.";
    }
    return "The passkey could not be used. Try again.";
  }

  async function ceremony(box) {
    const purpose = box.dataset.passkey;
    const csrfToken = box.dataset.csrfToken || "";
    const offered = await post(box.dataset.optionsUrl, csrfToken);
    const answer = { challenge_id: offered.challenge_id };
    if (purpose === "register") {
      const created = await navigator.credentials.create({ publicKey: creationOptions(offered.publicKey) });
      answer.credential = credentialJSON(created);
      const name = box.querySelector("[data-passkey-name]");
      answer.name = name ? name.value : "";
    } else {
      const asserted = await navigator.credentials.get({ publicKey: requestOptions(offered.publicKey) });
      answer.credential = credentialJSON(asserted);
      if (purpose === "step-up") {
        answer.next = box.dataset.next || "/dashboard";
      }
    }
    const done = await post(box.dataset.verifyUrl, csrfToken, answer);
    window.location.assign(done.redirect || window.location.href);
  }

  function start(box, button, problem) {
    button.disabled = true;
    problem.hidden = true;
    problem.textContent = "";
    ceremony(box).catch(function (error) {
      if (error instanceof ServerError && error.code === "step_up_required") {
        window.location.assign("/account/step-up?next=" + encodeURIComponent(window.location.pathname));
        return;
      }
      problem.textContent = describe(error);
      problem.hidden = false;
      button.disabled = false;
    });
  }

  function setUp() {
    const supported = typeof window.PublicKeyCredential === "function" && !!navigator.credentials;
    document.querySelectorAll("[data-passkey]").forEach(function (box) {
      const button = box.querySelector("[data-passkey-start]");
      const problem = box.querySelector("[data-passkey-problem]");
      if (!button || !problem) {
        return;
      }
      if (!supported) {
        const note = box.parentElement && box.parentElement.querySelector("[data-passkey-unsupported]");
        if (note) {
          note.hidden = false;
        }
        return;
      }
      box.hidden = false;
      button.addEventListener("click", function () {
        start(box, button, problem);
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
