// The sitedeploy console: a page on top of sitedeploy.js and nothing else (no framework, no CDN).
// The local stack serves it with a config.json naming its API and a dev token; deployed anywhere
// else it asks for both on the Settings screen and keeps them in this browser.

import { SitedeployClient, SitedeployError, filesFromDataTransfer, filesFromFileList } from "./sitedeploy.js";

const NAMES = { cloudflare: "Cloudflare", amplify: "AWS Amplify", netlify: "Netlify", vercel: "Vercel" };
const STORE = "sitedeploy.console";
const $ = (selector) => document.querySelector(selector);

const state = { client: null, selection: null, platforms: [], controller: null };

// -- alerts ------------------------------------------------------------------------------------

function describe(error) {
  if (error instanceof SitedeployError) return `${error.message} (${error.code})`;
  if (error && error.name === "AbortError") return "cancelled";
  return String((error && error.message) || error);
}

function notify(kind, message) {
  const box = document.createElement("div");
  box.className = `alert ${kind}`;
  box.dataset.kind = kind;
  const text = document.createElement("span");
  text.textContent = message;
  const close = document.createElement("button");
  close.type = "button";
  close.className = "close";
  close.setAttribute("aria-label", "Dismiss");
  close.textContent = "×";
  close.addEventListener("click", () => box.remove());
  box.append(text, close);
  $("#alerts").append(box);
}

function clearAlerts() {
  $("#alerts").replaceChildren();
}

// -- configuration -------------------------------------------------------------------------------

async function loadConfig() {
  let config = {};
  try {
    const answer = await fetch("config.json", { cache: "no-store" });
    if (answer.ok) config = await answer.json();
  } catch {
    config = {};
  }
  const saved = JSON.parse(localStorage.getItem(STORE) || "{}");
  return {
    apiUrl: config.apiUrl || saved.apiUrl || "",
    token: config.token || sessionStorage.getItem(`${STORE}.token`) || "",
    local: Boolean(config.local),
  };
}

function useApi(apiUrl, token) {
  state.client = apiUrl && token ? new SitedeployClient({ apiUrl, token }) : null;
  $("#api-url").value = apiUrl;
  $("#api-token").value = token;
  $("#api-status").textContent = state.client ? `API: ${apiUrl}` : "no API yet: see Settings";
}

// -- tabs --------------------------------------------------------------------------------------

function showScreen(name) {
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    const selected = tab.id === `tab-${name}`;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    $(`#${tab.getAttribute("aria-controls")}`).hidden = !selected;
  }
  if (name === "sites") refreshSites();
  if (name === "settings") refreshConnections();
}

function wireTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => showScreen(tab.id.replace("tab-", "")));
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const next = tabs[(i + step + tabs.length) % tabs.length];
      next.focus();
      showScreen(next.id.replace("tab-", ""));
    });
  });
}

// -- the Deploy button ---------------------------------------------------------------------------

function buttonFor(availability) {
  const name = NAMES[availability.platform] || availability.platform;
  const button = document.createElement("button");
  button.type = "button";
  button.dataset.platform = availability.platform;
  if (availability.connected) {
    button.dataset.mode = "user-token";
    const account = availability.connection && (availability.connection.accountName || availability.connection.accountId);
    button.textContent = `Deploy to your ${name} account`;
    if (account) button.title = `as ${account}`;
  } else if (availability.quickDeploy) {
    button.dataset.mode = "platform-managed";
    button.textContent = `Quick Deploy to ${name}`;
    button.title = "hosted by the service for a few days; connect your own account to keep it";
  } else {
    button.disabled = true;
    button.textContent = `Connect ${name} to deploy`;
  }
  button.addEventListener("click", () => deploy(availability.platform, button.dataset.mode));
  return button;
}

// Of overlapping reads of one thing (opening a tab, connecting, a new API: each reads again), only
// the latest may draw: an earlier one answered late must not draw over it, or over what no longer
// holds. Each call of the function `latestOf()` returns starts a read and returns its check.
function latestOf() {
  let latest = 0;
  return () => {
    const turn = ++latest;
    return () => turn === latest;
  };
}

const platformsRead = latestOf();

async function refreshPlatforms() {
  if (!state.client) return;
  const latest = platformsRead();
  let platforms;
  try {
    platforms = (await state.client.platforms()).platforms;
  } catch (error) {
    if (!latest()) return;
    notify("error", `cannot read the platforms: ${describe(error)}`);
    return;
  }
  if (!latest()) return;
  state.platforms = platforms;
  $("#deploy-buttons").replaceChildren(...state.platforms.map(buttonFor));
  updateDeployButtons();
}

function updateDeployButtons() {
  const busy = Boolean(state.controller);
  for (const button of document.querySelectorAll("#deploy-buttons button")) {
    button.disabled = busy || !state.selection || !button.dataset.mode;
  }
}

// -- choosing files ------------------------------------------------------------------------------

function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

function choose(files, folderName) {
  if (!files.length) {
    notify("error", "that folder holds no files to deploy");
    return;
  }
  const bytes = files.reduce((sum, f) => sum + f.data.size, 0);
  state.selection = { files, folderName };
  $("#selection").textContent = `${folderName || "Folder"}: ${files.length} files, ${formatBytes(bytes)}`;
  if (!$("#project").value && folderName) $("#project").value = folderName;
  updateDeployButtons();
}

function folderOf(fileList) {
  const first = fileList[0];
  const path = (first && (first.sitedeployPath || first.webkitRelativePath)) || "";
  return path.includes("/") ? path.split("/")[0] : "";
}

function wirePicker() {
  $("#folder").addEventListener("change", (event) => {
    const list = event.target.files;
    choose(filesFromFileList(list), folderOf(list));
  });
  const drop = $("#drop");
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", async (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    const entry = event.dataTransfer.items && event.dataTransfer.items[0] && event.dataTransfer.items[0].webkitGetAsEntry();
    const files = await filesFromDataTransfer(event.dataTransfer);
    choose(files, entry && entry.isDirectory ? entry.name : "");
  });
  const openPicker = (event) => {
    if (event.type === "click" || event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      $("#folder").click();
    }
  };
  drop.addEventListener("click", openPicker);
  drop.addEventListener("keydown", openPicker);
}

// -- deploying -----------------------------------------------------------------------------------

function showProgress(update) {
  const phases = {
    hashing: `Hashing ${update.filesDone || 0} of ${update.files} files…`,
    planning: "Asking which files the service has already…",
    // Uploads start while the rest of the folder is still being hashed: say so until it is done.
    uploading:
      `Uploading ${formatBytes(update.bytesDone || 0)} of ${formatBytes(update.bytesTotal || 0)}` +
      ((update.filesDone ?? update.files) < update.files ? `, hashed ${update.filesDone} of ${update.files} files…` : "…"),
    deploying: `Deployment ${update.status || "pending"}${update.progress ? ` (${update.progress}%)` : ""}…`,
    done: `Deployment ${update.status}`,
  };
  $("#phase").textContent = phases[update.phase] || update.phase;
  if (update.phase === "uploading" || update.phase === "hashing") {
    const total = update.bytesTotal || 0;
    $("#upload-bar").value = total ? Math.round((100 * (update.bytesDone || 0)) / total) : 100;
  }
  if (update.phase === "deploying" || update.phase === "done") {
    $("#upload-bar").value = 100;
    $("#deploy-bar").value = update.progress || 0;
  }
}

function showResult(result) {
  const live = result.status === "ready";
  const preview = result.target === "preview";
  $("#result").hidden = false;
  $("#result").dataset.status = result.status;
  $("#result").dataset.target = result.target || "production";
  $("#result-title").textContent = live ? (preview ? "Preview ready (production unchanged)" : "Live") : "Failed";
  const url = preview ? result.previewUrl : result.url;
  const localUrl = preview ? result.localPreviewUrl : result.localUrl;
  const link = $("#result-url");
  link.textContent = url || "(no URL)";
  link.href = url || "#";
  const local = $("#result-local-url");
  local.textContent = localUrl || "";
  local.href = localUrl || "#";
  $("#result-local-label").hidden = local.hidden = !localUrl;
  $("#result-id").textContent = result.deploymentId;
  const staged = result.alreadyStaged ? `, ${result.alreadyStaged} already staged` : "";
  $("#result-uploaded").textContent = `${result.uploadedFiles} of ${result.files} files (${formatBytes(result.uploadedBytes)})${staged}`;
}

async function deploy(platform, mode) {
  if (!state.selection || !state.client || state.controller) return;
  clearAlerts();
  const controller = new AbortController();
  state.controller = controller;
  updateDeployButtons();
  $("#result").hidden = true;
  $("#progress").hidden = false;
  $("#upload-bar").value = 0;
  $("#deploy-bar").value = 0;
  const spa = $("#spa").value;
  try {
    const result = await state.client.deploy(platform, state.selection.files, {
      projectName: $("#project").value.trim() || undefined,
      authMode: mode,
      spa: spa === "" ? undefined : spa === "true",
      target: $("#preview").checked ? "preview" : "production",
      signal: controller.signal,
      onProgress: showProgress,
    });
    showResult(result);
    if (result.status === "ready" && result.target === "preview") {
      notify("success", `${NAMES[platform]}: preview at ${result.previewUrl}; production unchanged`);
    } else if (result.status === "ready") notify("success", `${NAMES[platform]}: live at ${result.url}`);
    else notify("error", `${NAMES[platform]}: the deployment failed: ${result.error || "no reason given"}`);
  } catch (error) {
    notify(error.name === "AbortError" ? "info" : "error", `${NAMES[platform]}: ${describe(error)}`);
  } finally {
    state.controller = null;
    $("#progress").hidden = true;
    updateDeployButtons();
  }
}

// -- sites ---------------------------------------------------------------------------------------

const sitesRead = latestOf();

async function refreshSites() {
  if (!state.client) return;
  const latest = sitesRead();
  const body = $("#sites-table tbody");
  // Until the answer is drawn the rows on screen are stale: a click there would act on a row, or
  // toggle a panel, about to be replaced. Their buttons wait, disabled, for the list they belong to.
  body.setAttribute("aria-busy", "true");
  for (const button of body.querySelectorAll("button:not(:disabled)")) {
    button.disabled = true;
    button.dataset.stale = "true";
  }
  let sites;
  try {
    sites = (await state.client.sites()).sites;
  } catch (error) {
    if (!latest()) return;
    body.removeAttribute("aria-busy");
    for (const button of body.querySelectorAll("button[data-stale]")) {
      button.disabled = false;
      delete button.dataset.stale;
    }
    notify("error", `cannot list the sites: ${describe(error)}`);
    return;
  }
  if (!latest()) return;
  const rows = sites.map((site) => {
    const row = document.createElement("tr");
    row.dataset.siteId = site.siteId;
    const cells = [site.projectName, NAMES[site.platform] || site.platform, site.authMode === "user-token" ? "your account" : "Quick Deploy"];
    for (const text of cells) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.append(cell);
    }
    const urlCell = document.createElement("td");
    if (site.url) {
      const link = document.createElement("a");
      link.href = site.url;
      link.textContent = site.url;
      link.target = "_blank";
      link.rel = "noopener";
      urlCell.append(link);
    }
    const expires = document.createElement("td");
    expires.textContent = site.expiresAt ? new Date(site.expiresAt).toLocaleString() : "never";
    const actions = document.createElement("td");
    actions.className = "actions";
    const where = `${site.projectName} on ${NAMES[site.platform] || site.platform}`;
    const history = siteButton("Versions", `Versions of ${where}`, "secondary", () => toggleVersions(site, row, history));
    history.setAttribute("aria-expanded", "false");
    const hostnames = siteButton("Domains", `Domains of ${where}`, "secondary", () =>
      toggleDomains(site, row, hostnames),
    );
    hostnames.setAttribute("aria-expanded", "false");
    actions.append(history, hostnames);
    if (site.authMode === "platform-managed" && !site.previewOf) {
      const label = `Move ${site.projectName} to your own ${NAMES[site.platform] || site.platform} account`;
      actions.append(siteButton("Move to my account", label, "secondary", () => claimSite(site)));
    }
    actions.append(siteButton("Delete", `Delete ${where}`, "danger", () => deleteSite(site)));
    row.append(urlCell, expires, actions);
    return row;
  });
  body.replaceChildren(...rows);
  body.removeAttribute("aria-busy");
  $("#sites-empty").hidden = rows.length > 0;
}

/** A button of a site's row: its text, what a screen reader hears, its look and what it does. */
function siteButton(text, label, className, onClick) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = className;
  button.textContent = text;
  button.setAttribute("aria-label", label);
  button.addEventListener("click", onClick);
  return button;
}

// -- custom domains ------------------------------------------------------------------------------

const DOMAIN_STATES = {
  pending_verification: "waiting for the DNS records",
  pending_certificate: "issuing the certificate",
  active: "active",
  failed: "failed",
};

function closePanels(row) {
  while (row.nextElementSibling && row.nextElementSibling.dataset.panelOf === row.dataset.siteId) {
    row.nextElementSibling.remove();
  }
}

async function toggleDomains(site, row, button) {
  const open = [...document.querySelectorAll("tr.domains")].find((r) => r.dataset.domainsOf === site.siteId);
  if (open) {
    clearTimeout(Number(open.dataset.timer || 0));
    open.remove();
    button.setAttribute("aria-expanded", "false");
    return;
  }
  const panel = document.createElement("tr");
  panel.className = "domains";
  panel.dataset.domainsOf = site.siteId;
  const cell = document.createElement("td");
  cell.colSpan = 6;
  const form = document.createElement("form");
  form.className = "domain-form";
  form.innerHTML =
    '<label>Add a domain <input name="hostname" placeholder="www.example.com" autocomplete="off" required /></label>' +
    '<button type="submit">Add</button>';
  const list = document.createElement("div");
  list.className = "domain-list";
  list.textContent = "Loading domains…";
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const hostname = form.elements.hostname.value.trim();
    clearAlerts();
    try {
      await state.client.addDomain(site.siteId, hostname);
      form.reset();
      notify("info", `${hostname}: create the records shown, then watch its status`);
    } catch (error) {
      notify("error", `${hostname}: ${describe(error)}`);
    }
    await renderDomains(site, panel, list);
  });
  cell.append(form, list);
  panel.append(cell);
  row.after(panel);
  button.setAttribute("aria-expanded", "true");
  await renderDomains(site, panel, list);
}

async function renderDomains(site, panel, list) {
  clearTimeout(Number(panel.dataset.timer || 0));
  let answer;
  try {
    answer = await state.client.domains(site.siteId);
  } catch (error) {
    list.textContent = `cannot list the domains: ${describe(error)}`;
    return;
  }
  if (!answer.domains.length) {
    list.textContent = "No custom domains yet.";
    return;
  }
  const blocks = answer.domains.map((domain) => {
    const block = document.createElement("section");
    block.className = "domain";
    block.dataset.hostname = domain.hostname;
    block.dataset.status = domain.status;
    const head = document.createElement("h4");
    head.textContent = domain.hostname;
    const status = document.createElement("span");
    status.className = `domain-status ${domain.status}`;
    status.textContent = DOMAIN_STATES[domain.status] || domain.status;
    head.append(" ", status);
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "danger";
    remove.textContent = "Remove";
    remove.setAttribute("aria-label", `Remove ${domain.hostname}`);
    remove.addEventListener("click", async () => {
      try {
        await state.client.removeDomain(site.siteId, domain.hostname);
        notify("success", `${domain.hostname} removed`);
      } catch (error) {
        notify("error", `${domain.hostname}: ${describe(error)}`);
      }
      await renderDomains(site, panel, list);
    });
    head.append(" ", remove);
    block.append(head);
    if (domain.reason) {
      const reason = document.createElement("p");
      reason.className = "domain-reason";
      reason.textContent = domain.reason;
      block.append(reason);
    }
    if (domain.records.length && domain.status !== "active") {
      const table = document.createElement("table");
      table.className = "records";
      table.innerHTML =
        '<caption>Create these records at your DNS provider</caption><thead><tr><th scope="col">Type</th><th scope="col">Name</th><th scope="col">Value</th><th scope="col">For</th><th scope="col"><span class="visually-hidden">Copy</span></th></tr></thead>';
      const body = document.createElement("tbody");
      for (const record of domain.records) {
        const line = document.createElement("tr");
        for (const text of [record.type, record.name, record.value, record.purpose]) {
          const td = document.createElement("td");
          td.textContent = text;
          line.append(td);
        }
        const copy = document.createElement("td");
        const button = document.createElement("button");
        button.type = "button";
        button.className = "secondary";
        button.textContent = "Copy";
        button.setAttribute("aria-label", `Copy the ${record.type} value for ${record.name}`);
        button.addEventListener("click", () => navigator.clipboard && navigator.clipboard.writeText(record.value));
        copy.append(button);
        line.append(copy);
        body.append(line);
      }
      table.append(body);
      block.append(table);
    }
    return block;
  });
  list.replaceChildren(...blocks);
  // While one is pending, look again (the API asks the platform at most every few seconds).
  if (answer.domains.some((d) => d.status.startsWith("pending")) && panel.isConnected) {
    panel.dataset.timer = String(setTimeout(() => renderDomains(site, panel, list), 3000));
  }
}

// -- versions ------------------------------------------------------------------------------------

async function toggleVersions(site, row, button) {
  const open = row.nextElementSibling && row.nextElementSibling.dataset.versionsOf === site.siteId;
  if (open) {
    row.nextElementSibling.remove();
    button.setAttribute("aria-expanded", "false");
    return;
  }
  const panel = document.createElement("tr");
  panel.className = "versions";
  panel.dataset.versionsOf = site.siteId;
  const cell = document.createElement("td");
  cell.colSpan = 6;
  cell.textContent = "Loading versions…";
  panel.append(cell);
  row.after(panel);
  button.setAttribute("aria-expanded", "true");
  await renderVersions(site, cell);
}

async function renderVersions(site, cell) {
  let listing;
  try {
    listing = await state.client.versions(site.siteId, { limit: 20 });
  } catch (error) {
    cell.textContent = `cannot list the versions: ${describe(error)}`;
    return;
  }
  const table = document.createElement("table");
  table.className = "versions-table";
  const caption = document.createElement("caption");
  caption.textContent = `Versions of ${site.projectName} (the newest ${listing.versionsKept} can be made live again)`;
  const head = document.createElement("thead");
  head.innerHTML =
    '<tr><th scope="col">Version</th><th scope="col">What</th><th scope="col">When</th><th scope="col">Status</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr>';
  const body = document.createElement("tbody");
  for (const version of listing.deployments) {
    const line = document.createElement("tr");
    line.dataset.deploymentId = version.deploymentId;
    if (version.live) line.classList.add("live");
    const what =
      version.target === "preview"
        ? "preview"
        : version.kind === "deploy"
          ? "deploy"
          : `${version.kind} of ${(version.sourceDeploymentId || "").slice(0, 12)}…`;
    const cells = [
      version.deploymentId,
      what,
      new Date(version.createdAt).toLocaleString(),
      version.live ? "live" : version.status,
    ];
    for (const text of cells) {
      const td = document.createElement("td");
      td.textContent = text;
      line.append(td);
    }
    const actions = document.createElement("td");
    if (version.target === "preview" && version.previewUrl) {
      const link = document.createElement("a");
      link.href = version.localPreviewUrl || version.previewUrl;
      link.textContent = "open preview";
      link.target = "_blank";
      link.rel = "noopener";
      actions.append(link);
    }
    if (version.rollbackAvailable && version.status === "ready") {
      const act = document.createElement("button");
      act.type = "button";
      const promote = version.target === "preview";
      act.textContent = promote ? "Promote" : "Roll back to this";
      act.dataset.action = promote ? "promote" : "rollback";
      act.addEventListener("click", () => makeLive(site, version, promote, cell));
      actions.append(act);
    }
    line.append(actions);
    body.append(line);
  }
  table.append(caption, head, body);
  cell.replaceChildren(table);
  if (!listing.deployments.length) cell.textContent = "No versions yet.";
}

async function makeLive(site, version, promote, cell) {
  clearAlerts();
  const verb = promote ? "Promoting" : "Rolling back";
  cell.querySelectorAll("button").forEach((b) => (b.disabled = true));
  notify("info", `${verb} ${site.projectName}…`);
  try {
    const done = promote
      ? await state.client.promote(version.deploymentId)
      : await state.client.rollback(site.siteId, { deploymentId: version.deploymentId });
    clearAlerts();
    if (done.status === "ready") {
      notify("success", `${site.projectName}: ${promote ? "the preview is live" : "rolled back"} at ${done.url}`);
      cell.dataset.localUrl = done.localUrl || "";
    } else notify("error", `${site.projectName}: ${done.error || "the deployment failed"}`);
  } catch (error) {
    clearAlerts();
    notify("error", `${site.projectName}: ${describe(error)}`);
  }
  await renderVersions(site, cell);
}

async function claimSite(site) {
  const release = confirm(
    `Move ${site.projectName} into your own ${NAMES[site.platform] || site.platform} account (connect it in Settings first)?\n\n` +
      "OK: also delete the Quick Deploy copy once yours is live. Cancel: keep it until it expires.",
  );
  clearAlerts();
  notify("info", `Moving ${site.projectName} to your account…`);
  try {
    const done = await state.client.claim(site.siteId, { release });
    clearAlerts();
    if (done.status === "ready") notify("success", `${site.projectName} is on your account at ${done.url}`);
    else notify("error", `${site.projectName}: ${done.error || "the move failed"}`);
  } catch (error) {
    clearAlerts();
    notify("error", `${site.projectName} could not be moved: ${describe(error)}`);
  }
  await refreshSites();
}

async function deleteSite(site) {
  if (!confirm(`Delete ${site.projectName} from ${NAMES[site.platform] || site.platform}? Its URL stops answering.`)) return;
  try {
    await state.client.deleteSite(site.siteId);
    notify("success", `${site.projectName} deleted`);
  } catch (error) {
    notify("error", `${site.projectName} could not be deleted: ${describe(error)}`);
  }
  await refreshSites();
}

// -- connections ---------------------------------------------------------------------------------

function describeConnection(connection) {
  if (!connection) return "Not connected.";
  const who = connection.accountName ? `${connection.accountName} (${connection.accountId})` : connection.accountId;
  const where = connection.region ? `, ${connection.region}` : "";
  const app = connection.appId ? `, app ${connection.appId}` : "";
  return `Connected: ${who}${where}${app}.`;
}

const connectionsRead = latestOf();

async function refreshConnections() {
  if (!state.client) return;
  const latest = connectionsRead();
  try {
    const { connections } = await state.client.connections();
    if (!latest()) return;
    for (const platform of Object.keys(NAMES)) {
      const connection = connections.find((c) => c.platform === platform);
      $(`#${platform}-connection`).textContent = describeConnection(connection);
    }
  } catch (error) {
    if (!latest()) return;
    notify("error", `cannot read your connections: ${describe(error)}`);
  }
}

function credentialsOf(form) {
  const out = {};
  for (const [name, value] of new FormData(form)) if (String(value).trim()) out[name] = String(value).trim();
  return out;
}

function wireConnections() {
  for (const form of document.querySelectorAll("form[data-platform]")) {
    const platform = form.dataset.platform;
    const name = NAMES[platform];
    const run = async (what, action) => {
      clearAlerts();
      try {
        await action();
      } catch (error) {
        notify("error", `${name}: ${what} failed: ${describe(error)}`);
      }
      await refreshConnections();
      await refreshPlatforms();
    };
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      run("connecting", async () => {
        const connection = await state.client.connect(platform, credentialsOf(form));
        form.querySelector('input[type="password"]').value = "";
        notify("success", `${name}: ${describeConnection(connection)}`);
      });
    });
    form.querySelector('[data-action="verify"]').addEventListener("click", () =>
      run("verifying", async () => {
        if (!form.reportValidity()) return;
        const { connection } = await state.client.verifyConnection(platform, credentialsOf(form));
        notify("success", `${name}: the credentials work (${describeConnection(connection).replace("Connected: ", "")})`);
      }),
    );
    form.querySelector('[data-action="disconnect"]').addEventListener("click", () =>
      run("disconnecting", async () => {
        await state.client.disconnect(platform);
        notify("success", `${name}: disconnected`);
      }),
    );
  }
  $("#api-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const apiUrl = $("#api-url").value.trim();
    const token = $("#api-token").value.trim();
    localStorage.setItem(STORE, JSON.stringify({ apiUrl }));
    sessionStorage.setItem(`${STORE}.token`, token);
    useApi(apiUrl, token);
    refreshPlatforms();
    notify("success", "using this API");
  });
}

// -- start -------------------------------------------------------------------------------------

async function start() {
  wireTabs();
  wirePicker();
  wireConnections();
  $("#cancel").addEventListener("click", () => state.controller && state.controller.abort());
  const config = await loadConfig();
  useApi(config.apiUrl, config.token);
  if (!state.client) {
    showScreen("settings");
    notify("info", "Tell the console which API to use and your token.");
  } else {
    await refreshPlatforms();
  }
  document.body.dataset.ready = "true";
}

start();
