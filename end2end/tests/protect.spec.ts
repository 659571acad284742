import { test, expect } from '@playwright/test';
import { readFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { hydrated, openConsole, pageErrors, visit } from './console';

const corpusDir = resolve(__dirname, '../../../shared/corpus');

function corpus(file: string): string {
  const path = join(corpusDir, file);
  if (!existsSync(path)) {
    throw new Error(`this test needs the task-definition corpus at ${corpusDir} (the team's shared/ folder beside the clone)`);
  }
  return readFileSync(path, 'utf8');
}


test('paste, generate, review the diff and summary, copy, and reopen after a reload', async ({ page }) => {
  const errors = await openConsole(page);
  // A DescribeTaskDefinition export with registeredAt / registeredBy and an `sh -c` entryPoint.
  await page.getByTestId('input').fill(corpus('31-export-sso-sh-c-paloalto.json'));
  await page.getByTestId('console-url').fill('https://palisade.example.com');
  await page.getByTestId('generate').click();

  const output = page.getByTestId('output');
  await expect(output).toContainText('"palisade-defender"');
  await expect(output).toContainText('"/palisade/palisade-defender"');
  await expect(output).not.toContainText('registeredAt');

  const diff = page.getByTestId('diff');
  await expect(diff.locator('td.added').first()).toBeVisible();
  await expect(diff.locator('td.removed').first()).toBeVisible();
  await expect(diff.locator('tr.folded').first()).toBeVisible();

  await page.getByRole('tab', { name: 'Summary' }).click();
  const summary = page.getByTestId('summary');
  await expect(summary).toContainText('removed read-only keys:');
  await expect(summary).toContainText('registeredAt');
  await expect(summary).toContainText('added container palisade-defender');
  await expect(summary).toContainText('wrapped entryPoint of');

  await page.getByTestId('copy').click();
  await expect(page.getByTestId('copy')).toHaveText('Copied');
  const clipboard = await page.evaluate(() => navigator.clipboard.readText());
  expect(JSON.parse(clipboard)).toEqual(JSON.parse((await output.textContent())!));

  const download = page.getByTestId('download');
  await expect(download).toHaveAttribute('download', /-protected\.json$/);

  await page.reload();
  await hydrated(page, 'protect');
  const family = JSON.parse(corpus('31-export-sso-sh-c-paloalto.json')).family as string;
  const entry = page.getByTestId('recent').getByRole('button', { name: new RegExp(family) }).first();
  await expect(entry).toBeVisible();
  // To the minute, in words a person reads (not 2026-11-30 14:02:03.123456789Z).
  await expect(entry.locator('time')).toHaveText(/^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
  await entry.click();
  await expect(page.getByTestId('output')).toContainText('"palisade-defender"');
  await expect(page.getByTestId('input')).toHaveValue(/registeredAt/);
  expect(errors).toEqual([]);
});

test('broken JSON shows the error with its line and marks that line', async ({ page }) => {
  const errors = await openConsole(page);
  await page.getByTestId('input').fill(corpus('46-trailing-comma-bridge-sidecar.json'));
  await page.getByTestId('input').press('Control+Enter');
  const problems = page.getByTestId('problems');
  await expect(problems).toContainText('line 78, column 9');
  await expect(problems).toContainText('trailing comma');
  await expect(page.locator('.gutter .error-line')).toHaveText('78');
  // Every number sits on its own text line, the marked one included: none slips after it.
  const tops = await page.locator('.gutter .line').evaluateAll((lines) =>
    lines.slice(70, 90).map((line) => line.getBoundingClientRect().top));
  const step = tops[1] - tops[0];
  expect(step).toBeGreaterThan(0);
  tops.forEach((top, index) => expect(Math.abs(top - (tops[0] + index * step))).toBeLessThan(0.5));
  const gutter = await page.locator('.gutter').boundingBox();
  const editor = await page.getByTestId('input').boundingBox();
  expect(Math.abs(gutter!.height - editor!.height)).toBeLessThan(step);
  expect(errors).toEqual([]);
});

test('a container without entryPoint asks for its image argv, then protects', async ({ page }) => {
  const errors = await openConsole(page);
  await page.getByTestId('input').fill(JSON.stringify({
    family: 'web', networkMode: 'awsvpc', requiresCompatibilities: ['FARGATE'], cpu: '256', memory: '512',
    containerDefinitions: [{ name: 'web', image: 'nginx:1.27' }],
  }, null, 2));
  // Resolution off: the console asks for the argv.
  await page.getByTestId('resolve').uncheck();
  await page.getByTestId('generate').click();
  await expect(page.getByTestId('problems')).toContainText('container `web` has no entryPoint');

  await page.getByTestId('entrypoint-web').fill('["/docker-entrypoint.sh", "nginx", "-g", "daemon off;"]');
  await page.getByTestId('generate').click();
  await expect(page.getByTestId('output')).toContainText('"daemon off;"');
  await page.getByRole('tab', { name: 'Summary' }).click();
  await expect(page.getByTestId('summary')).toContainText('image argv given by you');
  await expect(page.getByTestId('argv-source-web')).toHaveText('given by you');
  expect(errors).toEqual([]);
});

test('an entrypoint read from the registry, with where it came from; a failure says why', async ({ page }) => {
  const errors = await openConsole(page);
  const registry = process.env.PALISADE_E2E_REGISTRY!;
  const task = (image: string) => JSON.stringify({
    family: 'web', networkMode: 'awsvpc', requiresCompatibilities: ['FARGATE'], cpu: '256', memory: '512',
    containerDefinitions: [{ name: 'web', image }],
  }, null, 2);
  await page.getByTestId('input').fill(task(`${registry}/e2e/web:1`));
  await page.getByTestId('generate').click();
  await expect(page.getByTestId('output')).toContainText('"/docker-entrypoint.sh"');
  await expect(page.getByTestId('output')).toContainText('"daemon off;"');
  await expect(page.getByTestId('argv-source-web')).toContainText(`from image ${registry}/e2e/web@sha256:`);
  await expect(page.getByTestId('argv-source-web')).toContainText('resolved');

  // A tag that does not exist: refused, the reason next to the field to fill.
  await page.getByTestId('input').fill(task(`${registry}/e2e/web:404`));
  await page.getByTestId('generate').click();
  await expect(page.getByTestId('argv-error-web')).toContainText('not found');
  await expect(page.getByTestId('problems')).toContainText('reading it from the registry failed');
  expect(errors).toEqual([]);
});

test('a registry reached at an endpoint set in Settings; references refused when they hold a password', async ({ page }) => {
  const errors = pageErrors(page);
  const registry = process.env.PALISADE_E2E_REGISTRY!;
  // A host no resolver knows: only the endpoint setting can make its images readable.
  const host = 'mirror-only.invalid:5000';
  await visit(page, '/settings', 'settings');

  await page.getByTestId('registry-host').fill(host);
  await page.getByTestId('registry-username').fill('ci');
  await page.getByTestId('registry-password-ref').fill('hunter2');
  await page.getByTestId('registry-save').click();
  await expect(page.getByTestId('registry-error')).toContainText('env:PALISADE_REGISTRY_');

  await page.getByTestId('registry-username').fill('');
  await page.getByTestId('registry-password-ref').fill('');
  await page.getByTestId('registry-endpoint').fill(`http://${registry}`);
  await page.getByTestId('registry-save').click();
  const row = page.getByTestId('registry-row').filter({ hasText: host });
  await expect(row).toContainText(`http://${registry}`);
  await expect(page.getByTestId('registry-host')).toHaveValue('');

  await visit(page, '', 'protect');
  await page.getByTestId('input').fill(JSON.stringify({
    family: 'mirrored', networkMode: 'awsvpc', requiresCompatibilities: ['FARGATE'], cpu: '256', memory: '512',
    containerDefinitions: [{ name: 'web', image: `${host}/e2e/web:1` }],
  }, null, 2));
  await page.getByTestId('generate').click();
  await expect(page.getByTestId('argv-source-web')).toContainText(`from image ${host}/e2e/web@sha256:`);
  await expect(page.getByTestId('output')).toContainText('"/docker-entrypoint.sh"');

  await visit(page, '/settings', 'settings');
  await page.getByTestId('registry-row').filter({ hasText: host }).getByTestId('registry-remove').click();
  await expect(page.getByTestId('registry-row').filter({ hasText: host })).toHaveCount(0);

  // An ECR host needs no credentials: the list says where its login comes from. Its login goes
  // to another endpoint only when the box says so, and the list shows that it does.
  const ecr = '123456789012.dkr.ecr.eu-west-1.amazonaws.com';
  await page.getByTestId('registry-host').fill(ecr);
  await page.getByTestId('registry-endpoint').fill('https://ecr-mirror.example');
  await page.getByTestId('registry-save').click();
  await expect(page.getByTestId('registry-error')).toContainText('the ECR login of');
  await page.getByTestId('registry-credentials-to-endpoint').check();
  await page.getByTestId('registry-save').click();
  const ecrRow = page.getByTestId('registry-row').filter({ hasText: ecr });
  await expect(ecrRow).toContainText('ECR login (AWS chain)');
  await expect(ecrRow.getByTestId('registry-credentials-leave')).toBeVisible();
  await ecrRow.getByTestId('registry-remove').click();
  await expect(ecrRow).toHaveCount(0);
  expect(errors).toEqual([]);
});

test('a token created for the family and kept in Secrets Manager: the task gets its ARN', async ({ page }) => {
  const errors = await openConsole(page);
  await page.getByTestId('input').fill(JSON.stringify({
    family: 'vault-e2e', networkMode: 'awsvpc', requiresCompatibilities: ['FARGATE'], cpu: '256', memory: '512',
    executionRoleArn: 'arn:aws:iam::123456789012:role/ecsTaskExecutionRole',
    containerDefinitions: [{ name: 'app', image: 'app:1', entryPoint: ['/app'] }],
  }, null, 2));
  await page.getByTestId('console-url').fill('https://palisade.example.com');
  // The console has credentials and a region (moto's): keeping the token in Secrets Manager is
  // the default, nothing to pick.
  await expect(page.getByTestId('token-kind')).toHaveValue('new-secret');
  await page.getByTestId('generate').click();
  const output = page.getByTestId('output');
  await expect(output).toContainText('"valueFrom": "arn:aws:secretsmanager:us-east-1:');
  await expect(output).toContainText(':secret:palisade/defender-token/vault-e2e');
  await expect(output).not.toContainText('pal_');
  await page.getByRole('tab', { name: /Warnings/ }).click();
  await expect(page.getByTestId('warnings')).toContainText('stored in Secrets Manager as palisade/defender-token/vault-e2e');
  expect(errors).toEqual([]);
});

test("a vendor's profile: Datadog's recipe with its fields, the defender's fields hidden", async ({ page }) => {
  const errors = await openConsole(page);
  await page.getByTestId('input').fill(corpus('31-export-sso-sh-c-paloalto.json'));
  await page.getByTestId('profile').selectOption('datadog-cws');
  // The bundled defender's settings do not apply to Datadog's agent.
  await expect(page.getByTestId('console-url')).toHaveCount(0);
  await expect(page.getByTestId('defender-image')).toHaveCount(0);
  await page.getByTestId('vendor-key-secret').fill('arn:aws:secretsmanager:us-east-1:123456789012:secret:dd-api-key');
  await page.getByTestId('datadog-site').fill('datadoghq.eu');
  await page.getByTestId('generate').click();
  const output = page.getByTestId('output');
  await expect(output).toContainText('"datadog-agent"');
  await expect(output).toContainText('"cws-instrumentation-init"');
  await expect(output).toContainText('"/cws-instrumentation-volume/cws-instrumentation"');
  await expect(output).toContainText('"datadoghq.eu"');
  await expect(output).toContainText('"valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:dd-api-key"');
  await expect(output).not.toContainText('palisade-defender');
  await expect(output).not.toContainText('PALISADE_TOKEN');

  // Sysdig: a collector that is not HOST:PORT is refused with the fix; then it protects.
  await page.getByTestId('profile').selectOption('sysdig-serverless');
  await page.getByTestId('sysdig-collector').fill('orchestrator');
  await page.getByTestId('generate').click();
  await expect(page.getByTestId('problems')).toContainText('is not HOST:PORT');
  // The key field starts empty for each vendor (one vendor's key is never sent to another).
  await expect(page.getByTestId('vendor-key-secret')).toHaveValue('');
  await page.getByTestId('sysdig-collector').fill('orchestrator.internal:6667');
  await page.getByTestId('generate').click();
  await expect(output).toContainText('"/opt/draios/bin/instrument"');
  await expect(output).toContainText('"sysdig-instrumentation"');
  expect(errors).toEqual([]);
});

test('a CloudFormation template is protected in place, in YAML, and is not offered for Register', async ({ page }) => {
  const errors = await openConsole(page);
  const template = [
    'Parameters:',
    '  ApiImage:',
    '    Type: String',
    'Resources:',
    '  Task:',
    '    Type: AWS::ECS::TaskDefinition',
    '    Properties:',
    "      Family: !Sub '${AWS::StackName}-api'",
    '      Cpu: 256',
    '      Memory: 512',
    '      NetworkMode: awsvpc',
    '      RequiresCompatibilities: [FARGATE]',
    '      ContainerDefinitions:',
    '        - Name: api',
    '          Image: !Ref ApiImage',
    '          Environment:',
    '            - Name: PORT',
    '              Value: 8080',
    '',
  ].join('\n');
  await page.getByTestId('input').fill(template);
  await page.getByTestId('token-kind').selectOption('secret');
  await page.getByTestId('token-value').fill('arn:aws:secretsmanager:us-east-1:123456789012:secret:t');
  await page.getByTestId('generate').click();
  // The image is a parameter: its argv is asked for, with a field for the container.
  await expect(page.getByTestId('problems')).toContainText('!Ref ApiImage');
  // The editor marks the container's line (14: "- Name: api").
  await expect(page.locator('.gutter .error-line')).toHaveText(['14']);
  await page.getByTestId('entrypoint-api').fill('["/app/api", "serve"]');
  await page.getByTestId('generate').click();
  const output = page.getByTestId('output');
  await expect(output).toContainText('Image: !Ref ApiImage');
  await expect(output).toContainText('- /palisade/palisade-defender');
  await expect(output).toContainText('Value: 8080');
  await expect(page.getByTestId('register')).toBeDisabled();
  expect(errors).toEqual([]);
});

test('Open file reads a template into the editor', async ({ page }) => {
  const errors = await openConsole(page);
  const template = 'Resources:\n  Task:\n    Type: AWS::ECS::TaskDefinition\n    Properties:\n      ContainerDefinitions:\n        - Name: web\n          Image: nginx\n          Memory: 128\n          EntryPoint: [/docker-entrypoint.sh]\n';
  await page.getByTestId('upload').setInputFiles({ name: 'stack.yaml', mimeType: 'application/yaml', buffer: Buffer.from(template) });
  await expect(page.getByTestId('input')).toHaveValue(template);
  await page.getByTestId('generate').click();
  await expect(page.getByTestId('output')).toContainText('- /palisade/palisade-defender');
  expect(errors).toEqual([]);
});
