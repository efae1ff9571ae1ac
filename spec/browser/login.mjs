// End-to-end: a real (headless) Chromium logs in through the OpenResty example site and the
// emulator's Facebook Login dialog, and must land on the Instagram media grid.
// Needs the emulator and the example site running (spec/run starts both). Saves a screenshot.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';

const site = process.env.IG_EXAMPLE_URL || 'http://127.0.0.1:18100';
const shot = process.env.IG_SCREENSHOT || 'build/artifacts/login-grid.png';
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';

function check(cond, msg) { if (!cond) throw new Error(msg); }

const browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox'] });
try {
  const page = await browser.newPage();
  await page.goto(site + '/');
  await page.click('#login');                       // -> the Facebook Login dialog (emulator)
  await page.waitForSelector('#continue', { timeout: 15000 });
  check((await page.title()).includes('Log in with Facebook'), 'not on the login dialog: ' + await page.title());
  const scopes = await page.locator('li').allTextContents();
  check(scopes.includes('instagram_basic'), 'dialog does not list instagram_basic: ' + scopes.join(','));
  await page.click('#continue');                    // -> /auth/callback -> /profile
  await page.waitForSelector('#media figure.media', { timeout: 15000 });
  check(new URL(page.url()).pathname === '/profile', 'ended on ' + page.url());
  const username = (await page.textContent('#username')).trim();
  check(username === '@metricsaurus', 'username shown: ' + username);
  const tiles = await page.locator('#media figure.media').count();
  check(tiles === 12, 'expected 12 media in the grid, saw ' + tiles);
  await page.waitForLoadState('load');
  const broken = await page.$$eval('img', imgs => imgs.filter(i => !i.complete || i.naturalWidth === 0).length);
  check(broken === 0, broken + ' pictures did not load');
  const cookies = await page.context().cookies();
  const sid = cookies.find(c => c.name === 'ig_sid');
  check(sid && sid.httpOnly, 'session cookie missing or not HttpOnly');
  mkdirSync(shot.replace(/\/[^/]*$/, ''), { recursive: true });
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`browser login: ${username}, ${tiles} media in the grid, screenshot ${shot}`);
} finally {
  await browser.close();
}
