import { test, expect } from '@playwright/test';
import { hydrated, pageErrors, visit } from './console';
import { DefenderSocket } from './defender-socket';

// Runtime defense end to end: a defender (the channel by hand, defender-socket.ts, against the
// console global-setup.ts started) reports its processes and an alert; the incident shows on the
// Incidents page and as a mark on the defender's timeline; "This is normal" puts the process in
// the family's model, shown on its Models page.

const FAMILY = 'e2e-incidents';

function hello(): unknown {
  return {
    type: 'hello', protocol: 1, version: '0.1.0', instance: 'e2e-i-1', mode: 'availability',
    task: {
      task_arn: `arn:aws:ecs:eu-west-1:123456789012:task/e2e/${FAMILY}-task-0001`, cluster: 'e2e',
      family: FAMILY, revision: '4', availability_zone: 'eu-west-1a', launch_type: 'FARGATE',
      containers: [{ name: 'web', image: 'nginx:1.27', docker_id: 'web-id' }],
    },
  };
}

function started(seq: number, pid: number, ppid: number, executable: string, commandLine: string): unknown {
  return {
    seq, at_ms: Date.now(), event: 'process_started', pid, ppid, uid: 0, user: 'root',
    executable, command_line: commandLine, container: 'web', source: 'trace',
  };
}

test('an alert becomes an incident, marks the timeline, and "this is normal" teaches the model', async ({ page }) => {
  const errors = pageErrors(page);
  const base = process.env.PALISADE_E2E_URL!;
  const created = await page.request.post(`${base}/api/v1/tokens`, { data: { family: FAMILY } });
  expect(created.status()).toBe(201);
  const { token } = await created.json();

  const defender = await DefenderSocket.open(process.env.PALISADE_E2E_DEFENDER_URL!, token);
  try {
    defender.send(hello());
    const welcome = await defender.next();
    expect(welcome.type).toBe('welcome');
    const policy = await defender.next();
    expect(policy.type).toBe('policy');
    expect(policy.policy.model).toBeNull();
    defender.startHeartbeats(500);
    defender.send({
      type: 'events', events: [
        started(1, 10, 1, '/usr/sbin/nginx', 'nginx -g daemon off;'),
        started(2, 20, 10, '/bin/sh', 'sh -c wget http://updates.example/x'),
        {
          seq: 3, at_ms: Date.now(), event: 'alert', policy_revision: 1, action: 'allow',
          alerts: [{ rule: 'not-in-model', severity: 'medium', message: '/usr/bin/wget never ran in container web' }],
          process: { pid: 21, ppid: 20, uid: 0, user: 'root', executable: '/usr/bin/wget',
            command_line: 'wget http://updates.example/x', container: 'web', source: 'trace' },
        },
      ],
    });
    // Heartbeats are acknowledged too: wait for the ack of the events.
    for (let answer = await defender.next(); !(answer.type === 'ack' && answer.seq === 3); answer = await defender.next()) { /* next */ }

    // The Incidents page lists it; the rail counts it.
    await visit(page, '/incidents', 'incidents');
    const row = page.getByTestId('incident-row').filter({ hasText: FAMILY });
    await expect(row).toContainText('Program not in the model');
    await expect(row).toContainText('web');
    await expect(row.getByTestId('incident-state-cell')).toHaveText('open');
    await expect(page.getByTestId('open-incidents')).toContainText(/[1-9]\d* open incidents/);

    // Its page: the command line and the process tree around it.
    await row.getByRole('link', { name: 'Program not in the model' }).click();
    await hydrated(page, 'incident');
    const alert = page.getByTestId('alert').first();
    await expect(alert.getByTestId('alert-command')).toHaveText('wget http://updates.example/x');
    const tree = alert.getByTestId('process-tree');
    await expect(tree).toContainText('nginx -g daemon off;');
    await expect(tree).toContainText('sh -c wget');

    // The defender's timeline, with the alert marked.
    await alert.getByRole('link', { name: "Open the defender's timeline" }).click();
    await hydrated(page, 'defender');
    await expect(page.getByTestId('timeline').locator('tr.event.alert').getByTestId('alert-mark')).toBeVisible();
    await expect(page.getByTestId('timeline-alerts')).toContainText('1 alerts');
    await page.goBack();
    await hydrated(page, 'incident');

    // "This is normal": wget goes into web's model, and the defender is sent the new revision.
    await page.getByTestId('this-is-normal').first().click();
    await expect(page.getByTestId('normal-done')).toBeVisible();
    for (let pushed = await defender.next(); pushed.type !== 'policy'; pushed = await defender.next()) { /* acks */ }
    await page.getByTestId('incident-acknowledge').click();
    await expect(page.getByTestId('incident-state')).toHaveText('acknowledged');

    await visit(page, `/models/${FAMILY}`, 'model');
    await expect(page.getByTestId('learning-state')).toContainText('learning');
    const learned = page.getByTestId('model-executable').filter({ hasText: '/usr/bin/wget' });
    await expect(learned).toContainText('marked normal');
    // Learned from the events it reported: sh with nginx as its parent.
    const shell = page.getByTestId('model-executable').filter({ has: page.locator('td:first-child', { hasText: '/bin/sh' }) });
    await expect(shell).toContainText('/usr/sbin/nginx');
  } finally {
    // The task stops: a goodbye, not a silent defender.
    defender.close(1001);
  }
  expect(errors).toEqual([]);
});
