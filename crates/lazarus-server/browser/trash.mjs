// Clicks through the trash page of `lazarus serve` in Debian's headless Chromium:
// the trash → a deletion → its dry run → the restore, a deletion made by another client
// appearing without a reload, a row's history, the keyboard, a phone-sized screen.
// Usage: node trash.mjs URL SHOTS_DIR   (tests/browser.rs starts the server and checks the store)
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";

const [url, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const done = [];
const step = (name) => { done.push(name); console.error("ok: " + name); };
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(url);
  const cards = page.locator("#trash button[data-deletion]");
  await cards.first().waitFor();
  const before = await cards.count();
  step("the trash lists " + before + " deletion(s)");
  await page.screenshot({ path: shots + "/trash.png", fullPage: true });

  // the keyboard alone opens a deletion
  await cards.first().focus();
  await page.keyboard.press("Enter");
  await page.locator("#dry-run").waitFor();
  step("a deletion opens from the keyboard");
  const members = await page.locator("#detail tbody tr").count();
  if (members < 2) throw new Error("the deletion shows " + members + " row(s): " + (await page.locator("#detail").innerHTML()).slice(0, 600));

  // a row's history, with what changed (a trashed row's too)
  await page.locator("#detail button", { hasText: "History" }).first().click();
  await page.locator("#history .timeline li").first().waitFor();
  await page.screenshot({ path: shots + "/history.png", fullPage: true });
  step("a row's history shows");

  // its dry run, then the restore
  await page.locator("#dry-run").scrollIntoViewIfNeeded();
  await page.click("#dry-run");
  await page.locator("#confirm-restore").waitFor();
  const planText = await page.locator("#plan").innerText();
  if (!planText.includes("Comes back")) throw new Error("no dry run: " + planText);
  await page.screenshot({ path: shots + "/dry-run.png", fullPage: true });
  step("the dry run shows what comes back");
  await page.click("#confirm-restore");
  await page.locator("#status", { hasText: "Restored" }).waitFor();
  step("restored from the page");

  // another client deletes: the page shows it without a reload
  const resp = await fetch(new URL("/api/rows/author/2?actor=cli&reason=from+elsewhere", url), { method: "DELETE" });
  if (!resp.ok) throw new Error("the other client's delete failed: " + resp.status);
  await page.locator("#trash button", { hasText: "from elsewhere" }).waitFor({ timeout: 15000 });
  step("a deletion made elsewhere appears live");

  // the store as of a point: the rows then, and the restore to it behind its dry run
  await page.selectOption("#a-table", "book");
  await page.click("#asof-form button[type=submit]");
  await page.locator("#asof table").waitFor();
  const dry = await page.locator("#asof .plan").innerText();
  if (!dry.includes("dry run")) throw new Error("no dry run of the restore to a point: " + dry);
  step("the store as of a point, with the restore to it as a dry run");

  // a phone-sized screen: nothing wider than it
  await page.setViewportSize({ width: 390, height: 844 });
  await page.reload();
  await cards.first().waitFor();
  const wide = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (wide > 1) throw new Error("the page is " + wide + " px wider than a phone's screen");
  await page.screenshot({ path: shots + "/phone.png", fullPage: true });
  step("readable on a phone-sized screen");
  if (errors.length) throw new Error("errors in the page: " + errors.join("; "));
  console.log(JSON.stringify({ ok: true, steps: done }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, steps: done, error: String(e && e.stack || e) }));
  process.exitCode = 1;
} finally {
  await browser.close();
}
