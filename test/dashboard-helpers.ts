import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { ROOT } from "./helpers.js";

/** Debian's chromium, which .ci/peers installs: the browser tests drive it through playwright-core (no browser download). */
export const CHROMIUM = process.env.PADDOCK_TEST_CHROMIUM ?? "/usr/bin/chromium";

/** Where the browser tests leave their screenshots (kept by CI as artifacts). */
export const ARTIFACTS = join(ROOT, "test-artifacts", "dashboard");

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no chromium at ${CHROMIUM}: run .ci/peers (it installs Debian's chromium) or set PADDOCK_TEST_CHROMIUM`);
  mkdirSync(ARTIFACTS, { recursive: true });
  // As root, Chromium's own sandbox needs a user namespace setup it refuses to make; the pages it loads are paddock's.
  return chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** The dashboard's address and token file, from `paddock up`'s banner. */
export function dashboardOf(output: string): { url: string; tokenFile: string } {
  const match = /web\s+(http:\/\/\S+\/) \(log in with the token in (\S+)\)/.exec(output);
  if (!match) throw new Error(`paddock up printed no dashboard line:\n${output}`);
  return { url: match[1]!, tokenFile: match[2]! };
}

/** Logs a browser page in through the login form, as a person does. */
export async function logIn(page: Page, url: string, token: string): Promise<void> {
  await page.goto(url);
  await page.waitForURL(/\/login$/);
  await page.fill("input[name=token]", token);
  await page.click("button[type=submit]");
  await page.waitForSelector("body[data-ready]");
}
