import { expect, Page } from '@playwright/test';

// What every spec does with the console that global-setup.ts started (PALISADE_E2E_URL). Pages
// are rendered on the server and then hydrated: a click or a keystroke before hydration is lost,
// so every navigation waits until the page's section says data-hydrated="true".

/** Collects the page's uncaught errors and anything the Content-Security-Policy blocked; a test
 * ends by expecting there are none. */
export function pageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error' && /Content.Security.Policy|Refused to/i.test(message.text())) {
      errors.push(message.text());
    }
  });
  return errors;
}

/** Waits until the page's `<section class="{section}">` is hydrated. */
export async function hydrated(page: Page, section: string): Promise<void> {
  await expect(page.locator(`section.${section}[data-hydrated="true"]`)).toBeVisible();
}

/** Goes to `path` of the console ('' is Protect) and waits for its `section` to hydrate. */
export async function visit(page: Page, path: string, section: string): Promise<void> {
  await page.goto(`${process.env.PALISADE_E2E_URL}${path}`);
  await hydrated(page, section);
}

/** Opens the Protect page, collecting page errors from now on. */
export async function openConsole(page: Page): Promise<string[]> {
  const errors = pageErrors(page);
  await visit(page, '', 'protect');
  return errors;
}
