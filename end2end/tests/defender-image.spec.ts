import { test, expect } from '@playwright/test';
import { openConsole, pageErrors, visit } from './console';

// The defender image: an admin publishes it from Settings to the loopback registry global-setup.ts
// started (built from the console's own static binaries), and from then on the Protect page and
// Generate use the reference pinned by digest.

test('an admin publishes the defender image; Protect then uses the pinned image by default', async ({ page }) => {
  const errors = pageErrors(page);
  const repository = `${process.env.PALISADE_E2E_REGISTRY}/e2e/defender`;

  // Before: the Protect page says there is none and Generate warns in words a user acts on.
  await openConsole(page);
  await expect(page.getByTestId('defender-image')).toHaveAttribute('placeholder', /no image published yet/);

  await visit(page, '/settings', 'settings');
  await expect(page.getByTestId('defender-image-current')).toContainText('No defender image is published yet');
  await page.getByTestId('defender-image-repository').fill(repository);
  await page.getByTestId('defender-image-publish').click();
  const published = page.getByTestId('defender-image-published');
  await expect(published).toContainText(`Published ${repository}:`, { timeout: 60_000 });
  await expect(published).toContainText('linux/amd64, linux/arm64');
  const current = page.getByTestId('defender-image-current');
  await expect(current).toContainText(`${repository}@sha256:`);
  const reference = (await current.textContent())!.trim();
  expect(reference).toMatch(/@sha256:[0-9a-f]{64}$/);

  // Publishing again pushes nothing new.
  await page.getByTestId('defender-image-publish').click();
  await expect(published).toContainText('0 blobs and 0 manifests pushed');
  await expect(current).toHaveText(reference);

  // The Protect page shows it as the default, and Generate puts it in the task.
  await openConsole(page);
  await expect(page.getByTestId('defender-image')).toHaveAttribute('placeholder', `default: ${reference}`);
  await page.getByTestId('input').fill(JSON.stringify({
    family: 'e2e-image', memory: '512',
    containerDefinitions: [{ name: 'web', image: 'web:1', entryPoint: ['/srv/web'] }],
  }));
  await page.getByTestId('resolve').uncheck();
  await page.getByTestId('generate').click();
  await expect(page.getByTestId('output')).toContainText(reference);
  await expect(page.getByTestId('output')).not.toContainText('public.ecr.aws/palisade/defender');
  expect(errors).toEqual([]);
});
