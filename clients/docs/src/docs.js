// The API reference: Swagger UI on /openapi.json, and a sign-in box whose access token "try it"
// sends (Login through the JSON API; the token stays in this page's memory only).
/* global SwaggerUIBundle */
(function () {
  "use strict";
  const ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: false, // its links inside the summary buttons nest interactive controls (axe)
    validatorUrl: null, // no calls to swagger.io
    tryItOutEnabled: true,
    displayRequestDuration: true,
    showExtensions: true,
    showCommonExtensions: true, // pattern, min/max length, minimum/maximum
    defaultModelsExpandDepth: 1,
    defaultModelExpandDepth: 2,
    docExpansion: "list",
    filter: true,
    persistAuthorization: false,
    syntaxHighlight: { activated: false }, // its themes' colours fall under 4.5:1 contrast
  });
  window.meetmeshDocs = ui;

  // Accessibility fixes Swagger UI's markup needs (axe-core): scrollable code blocks reachable by
  // keyboard, and names for controls that have none.
  function fix(root) {
    root.querySelectorAll("pre, .microlight").forEach((el) => {
      if (!el.hasAttribute("tabindex")) el.setAttribute("tabindex", "0");
    });
    root.querySelectorAll("select:not([aria-label])").forEach((el) => {
      const label = el.closest(".parameters-col_description, .body-param-content-type, .response-control-media-type")
        ? "Choose a value" : "Choose";
      el.setAttribute("aria-label", el.id === "servers" ? "Server" : label);
    });
    root.querySelectorAll("button:not([aria-label])").forEach((el) => {
      if (!el.textContent.trim()) el.setAttribute("aria-label", "Show or hide details");
    });
    root.querySelectorAll("textarea:not([aria-label])").forEach((el) => el.setAttribute("aria-label", "Request body"));
    root.querySelectorAll("input:not([aria-label]):not([id^=signin])").forEach((el) => {
      const name = el.closest("tr") && el.closest("tr").querySelector(".parameter__name");
      el.setAttribute("aria-label", name ? name.textContent.replace("*", "").trim() : "Value");
    });
  }
  new MutationObserver(() => fix(document)).observe(document.getElementById("swagger-ui"), {
    childList: true,
    subtree: true,
  });

  const form = document.getElementById("signin");
  const fields = document.getElementById("signin-fields");
  const status = document.getElementById("signin-status");
  const submit = document.getElementById("signin-submit");
  const signout = document.getElementById("signout");

  function show(signedIn, text) {
    status.textContent = text;
    fields.hidden = signedIn;
    submit.hidden = signedIn;
    signout.hidden = !signedIn;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    status.textContent = "Signing in…";
    try {
      const response = await fetch("/v1/sessions:login", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email: form.email.value, password: form.password.value }),
      });
      const body = await response.json();
      if (!response.ok) {
        show(false, `Sign-in failed: ${body.message || response.statusText}`);
        return;
      }
      ui.preauthorizeApiKey("bearerAuth", body.tokens.accessToken);
      form.password.value = "";
      show(true, `Signed in as ${body.user.email}: "Try it out" sends your access token.`);
    } catch (error) {
      show(false, `Sign-in failed: ${error}`);
    } finally {
      submit.disabled = false;
    }
  });

  signout.addEventListener("click", () => {
    ui.authActions.logout(["bearerAuth"]);
    show(false, "Signed out: calls go without a token.");
  });
})();
