import { test, expect } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { hydrated, openConsole, pageErrors, visit } from './console';

// Registration and import against moto's ECS server, which global-setup.ts started and pointed
// the console at.

// Registers `task` in moto with the CLI, as another pipeline would have done before.
function registerWithCli(task: object): string {
  return execFileSync(process.env.PALISADE_E2E_BIN!, ['register', '-'], {
    input: JSON.stringify(task),
    env: { ...process.env, ...JSON.parse(process.env.PALISADE_E2E_AWS_ENV!) },
  }).toString().trim();
}

function fargateTask(family: string, image: string): object {
  return {
    family,
    networkMode: 'awsvpc',
    requiresCompatibilities: ['FARGATE'],
    cpu: '256',
    memory: '512',
    containerDefinitions: [{ name: 'web', image, entryPoint: ['/srv/web'], command: ['--port', '8080'] }],
  };
}

test('paste, generate, register, see family:N and the Revisions entry', async ({ page }) => {
  const errors = await openConsole(page);
  await page.getByTestId('input').fill(JSON.stringify(fargateTask('e2e-checkout', 'checkout:4'), null, 2));
  await page.getByTestId('console-url').fill('https://palisade.example.com');
  await expect(page.getByTestId('register')).toBeDisabled();
  await page.getByTestId('generate').click();
  await expect(page.getByTestId('output')).toContainText('"palisade-defender"');

  await page.getByTestId('register').click();
  const registered = page.getByTestId('registered');
  await expect(registered).toContainText('e2e-checkout:1');
  await expect(registered.locator('a')).toHaveAttribute('href', /us-east-1\.console\.aws\.amazon\.com\/ecs\/v2\/task-definitions\/e2e-checkout\/1/);

  // A second click on the same generation does not make revision 2.
  await page.getByTestId('register').click();
  await expect(registered).toContainText('e2e-checkout:1');

  await page.getByRole('link', { name: 'Revisions' }).click();
  const table = page.getByTestId('revisions');
  const row = table.locator('tbody tr', { hasText: 'e2e-checkout:1' });
  await expect(row).toHaveCount(1);
  await expect(row).toContainText('registered');
  await expect(row).toContainText('admin');

  // The generation link reopens it on the Protect page, result included.
  await row.getByRole('link', { name: /diff/ }).click();
  await expect(page.getByTestId('output')).toContainText('"palisade-defender"');
  expect(errors).toEqual([]);
});

test('import a family registered in ECS beforehand, pick its revision, protect it', async ({ page }) => {
  expect(registerWithCli(fargateTask('e2e-ledger', 'ledger:1'))).toMatch(/task-definition\/e2e-ledger:1$/);
  expect(registerWithCli(fargateTask('e2e-ledger', 'ledger:2'))).toMatch(/task-definition\/e2e-ledger:2$/);

  const errors = await openConsole(page);
  await page.getByTestId('import').click();
  const family = page.getByTestId('import-family');
  await expect(family.locator('option', { hasText: 'e2e-ledger' })).toHaveCount(1);
  await family.selectOption('e2e-ledger');
  const revision = page.getByTestId('import-revision');
  await expect(revision.locator('option', { hasText: 'e2e-ledger:1' })).toHaveCount(1);
  await revision.selectOption({ label: 'e2e-ledger:1' });
  await page.getByTestId('import-go').click();

  // The describe output lands in the editor as it is; the generator strips what ECS refuses.
  const input = page.getByTestId('input');
  await expect(input).toHaveValue(/"taskDefinitionArn": ".*e2e-ledger:1"/);
  await expect(input).toHaveValue(/"ledger:1"/);
  await page.getByTestId('console-url').fill('https://palisade.example.com');
  await page.getByTestId('generate').click();
  const output = page.getByTestId('output');
  await expect(output).toContainText('"palisade-defender"');
  await expect(output).toContainText('"ledger:1"');
  await expect(output).not.toContainText('taskDefinitionArn');
  expect(errors).toEqual([]);
});

test('Settings show the ECS endpoint the deployment set, read-only; a region that cannot work is refused', async ({ page }) => {
  const errors = pageErrors(page);
  await visit(page, '/settings', 'settings');

  // Where signed requests and task definitions go is the deployment's (AWS_ENDPOINT_URL_ECS).
  const endpoint = page.getByTestId('settings-endpoint');
  await expect(endpoint).toHaveValue(process.env.PALISADE_E2E_MOTO_URL!);
  await expect(endpoint).toHaveAttribute('readonly', '');

  await page.getByTestId('settings-region').fill('EU West');
  await page.getByTestId('settings-save').click();
  await expect(page.getByTestId('settings-error')).toContainText('not a region name');

  await page.getByTestId('settings-region').fill('us-east-1');
  await page.getByTestId('settings-save').click();
  await expect(page.getByTestId('settings-saved')).toBeVisible();
  await page.reload();
  await expect(page.getByTestId('settings-region')).toHaveValue('us-east-1');
  await expect(page.getByTestId('settings-endpoint')).toHaveValue(process.env.PALISADE_E2E_MOTO_URL!);

  // Import reaches ECS at that endpoint.
  await page.getByRole('link', { name: 'Protect' }).click();
  await hydrated(page, 'protect');
  await page.getByTestId('import').click();
  await expect(page.getByTestId('import-family').locator('option', { hasText: 'e2e-' }).first()).toBeAttached();
  expect(errors).toEqual([]);
});

// One ECS call on moto (JSON protocol), as another tool in the account would make it.
async function ecsCall(action: string, body: object): Promise<any> {
  const response = await fetch(process.env.PALISADE_E2E_MOTO_URL!, {
    method: 'POST',
    headers: {
      'x-amz-target': `AmazonEC2ContainerServiceV20141113.${action}`,
      'content-type': 'application/x-amz-json-1.1',
      authorization: 'AWS4-HMAC-SHA256 Credential=testing/20261130/us-east-1/ecs/aws4_request, SignedHeaders=host, Signature=0',
    },
    body: JSON.stringify(body),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(`moto ${action}: ${response.status} ${JSON.stringify(answer)}`);
  return answer;
}

test('coverage lists an unprotected service first, and Protect opens its revision', async ({ page }) => {
  const errors = pageErrors(page);
  // A cluster with one service running a revision nobody protected (moto runs the service's
  // task when told, with the group ECS gives a service's tasks).
  await ecsCall('CreateCluster', { clusterName: 'e2e-prod' });
  await ecsCall('RegisterTaskDefinition', {
    family: 'e2e-orders',
    containerDefinitions: [{ name: 'orders', image: 'orders:7', entryPoint: ['/srv/orders'], memoryReservation: 256 }],
  });
  await ecsCall('CreateService', { cluster: 'e2e-prod', serviceName: 'orders', taskDefinition: 'e2e-orders:1', desiredCount: 1, launchType: 'FARGATE' });
  await ecsCall('RunTask', { cluster: 'e2e-prod', taskDefinition: 'e2e-orders:1', launchType: 'FARGATE', group: 'service:orders' });

  await visit(page, '/defenders', 'defenders');
  // The page may show an answer read before the service existed (kept 30 s): ask again.
  await page.getByTestId('coverage-refresh').click();
  const row = page.getByTestId('coverage-row').filter({ hasText: 'e2e-orders:1' });
  await expect(row).toContainText('unprotected');
  await expect(row).toContainText('0 / 1');
  await expect(page.getByTestId('coverage-row').first()).toContainText('unprotected');
  await row.getByTestId('coverage-protect').click();
  await hydrated(page, 'protect');
  await expect(page.getByTestId('input')).toHaveValue(/"family": "e2e-orders"/);
  await page.getByTestId('generate').click();
  await expect(page.getByTestId('output')).toContainText('"palisade-defender"');
  expect(errors).toEqual([]);
});
