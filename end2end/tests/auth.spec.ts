import { test, expect, Page } from '@playwright/test';
import { createServer, Server } from 'node:http';
import { hydrated, pageErrors } from './console';
import { E2E_PASSWORD } from '../global-setup';

// Signing in and what each role sees, from a browser that starts signed out. The console was
// started by global-setup.ts with a generated admin password (read from its log) and two more
// accounts: olivia (operator) and victor (viewer).
test.use({ storageState: { cookies: [], origins: [] } });

const base = () => process.env.PALISADE_E2E_URL!;

async function signIn(page: Page, username: string, password: string): Promise<void> {
  await page.goto(`${base()}/sign-in`);
  await page.getByTestId('username').fill(username);
  await page.getByTestId('password').fill(password);
  await page.getByTestId('sign-in').click();
}

test('the first sign-in uses the generated password; a wrong one is refused; sign-out ends it', async ({ page }) => {
  const errors = pageErrors(page);
  // Closed by default: any page leads to the sign-in form, remembering where it was going.
  await page.goto(`${base()}/defenders`);
  await expect(page).toHaveURL(/\/sign-in\?next=%2Fdefenders/);

  await page.getByTestId('username').fill('admin');
  await page.getByTestId('password').fill('not the password');
  await page.getByTestId('sign-in').click();
  await expect(page.getByTestId('sign-in-error')).toHaveText('unknown user or wrong password');
  // The same words for someone who does not exist.
  await signIn(page, 'nobody', 'not the password');
  await expect(page.getByTestId('sign-in-error')).toHaveText('unknown user or wrong password');

  await page.goto(`${base()}/defenders`);
  await page.getByTestId('username').fill('admin');
  await page.getByTestId('password').fill(process.env.PALISADE_E2E_ADMIN_PASSWORD!);
  await page.getByTestId('sign-in').click();
  await expect(page).toHaveURL(`${base()}/defenders`);
  await hydrated(page, 'defenders');
  await expect(page.getByTestId('who')).toHaveText('admin');
  await expect(page.getByRole('link', { name: 'Settings', exact: true })).toBeVisible();

  await page.getByTestId('sign-out').click();
  await expect(page).toHaveURL(/\/sign-in$/);
  await page.goto(`${base()}/`);
  await expect(page).toHaveURL(/\/sign-in/);
  expect(errors).toEqual([]);
});

test('an operator generates but cannot open Settings', async ({ page }) => {
  const errors = pageErrors(page);
  await signIn(page, 'olivia', E2E_PASSWORD);
  await hydrated(page, 'protect');
  await expect(page.getByTestId('role')).toHaveText('operator');
  await expect(page.getByTestId('generate')).toBeVisible();
  await expect(page.getByRole('link', { name: 'Settings', exact: true })).toHaveCount(0);
  const settings = await page.goto(`${base()}/settings`);
  expect(settings!.status()).toBe(403);
  expect(errors).toEqual([]);
});

test('a viewer sees defenders and revisions, never a Register button or a token', async ({ page }) => {
  const errors = pageErrors(page);
  await signIn(page, 'victor', E2E_PASSWORD);
  await hydrated(page, 'protect');
  await expect(page.getByTestId('role')).toHaveText('viewer');
  await expect(page.getByTestId('recent')).toBeVisible();
  await expect(page.getByTestId('register')).toHaveCount(0);
  await expect(page.getByTestId('generate')).toHaveCount(0);
  await expect(page.getByText(/pal_[0-9a-f]{8}/)).toHaveCount(0);
  await page.getByRole('link', { name: 'Revisions', exact: true }).click();
  await hydrated(page, 'revisions');
  for (const path of ['/settings', '/audit']) {
    const response = await page.goto(`${base()}${path}`);
    expect(response!.status()).toBe(403);
    await expect(page.getByText(/pal_[0-9a-f]{8}/)).toHaveCount(0);
  }
  expect(errors).toEqual([]);
});

test('a page served from another port cannot make the signed-in browser change anything', async ({ page }) => {
  const errors = pageErrors(page);
  await signIn(page, 'admin', process.env.PALISADE_E2E_ADMIN_PASSWORD!);
  await hydrated(page, 'protect');

  // Another origin on the same host (so the same site: SameSite cookies alone would be sent):
  // a page that posts a form to the console's token server function.
  const attacker: Server = createServer((_request, response) => {
    response.setHeader('content-type', 'text/html');
    response.end(`<form id="f" method="post" action="${base()}/api/create-token">
      <input name="family" value="csrf-attack"><input name="label" value="x"></form>
      <script>document.getElementById('f').submit()</script>`);
  });
  await new Promise<void>((listening) => attacker.listen(0, '127.0.0.1', () => listening()));
  const { port } = attacker.address() as { port: number };
  try {
    const answer = page.waitForResponse((response) => response.url().endsWith('/api/create-token'));
    await page.goto(`http://127.0.0.1:${port}/`);
    expect((await answer).status()).toBe(403);
  } finally {
    attacker.close();
  }
  // Nothing was created: the Settings page lists no token of that family.
  await page.goto(`${base()}/settings`);
  await hydrated(page, 'settings');
  await expect(page.getByTestId('tokens').or(page.getByText('No tokens yet.'))).toBeVisible();
  await expect(page.getByText('csrf-attack')).toHaveCount(0);
  expect(errors).toEqual([]);
});

test('single sign-on through the OpenID provider gives the role its groups claim maps to', async ({ page }) => {
  const errors = pageErrors(page);
  const throughProvider = async (login: string) => {
    await page.goto(`${base()}/sign-in?next=%2Fdefenders`);
    await page.getByTestId('sign-in-sso').click();
    // The provider's own pages: its development login, then consent.
    await page.locator('input[name="login"]').fill(login);
    await page.locator('input[name="password"]').fill('any password works here');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    const consent = page.getByRole('button', { name: 'Continue' });
    if (await consent.isVisible({ timeout: 5_000 }).catch(() => false)) await consent.click();
  };

  await throughProvider('alice');
  await expect(page).toHaveURL(`${base()}/defenders`);
  await hydrated(page, 'defenders');
  await expect(page.getByTestId('who')).toHaveText('alice');
  await expect(page.getByTestId('role')).toHaveText('admin');
  await page.getByTestId('sign-out').click();
  await expect(page).toHaveURL(/\/sign-in$/);

  // Groups that map to no role: refused, and told why. (The provider remembers alice: forget her.)
  await page.context().clearCookies();
  await throughProvider('fiona');
  await expect(page.getByTestId('sign-in-error')).toContainText('fiona has no role here');
  expect(errors).toEqual([]);
});
