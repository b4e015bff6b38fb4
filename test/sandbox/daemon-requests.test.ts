import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDockerClient, DockerDriver } from '../../sandbox/index.js';
import { dockerStatus } from './helpers.js';

const status = await dockerStatus();

/**
 * The requests ferry makes of the Docker daemon, seen by a proxy on a unix socket in front of
 * the real one: /info is slow and costs the daemon CPU (it runs its init binary and runc to
 * read their versions), and a run's container starts beside the availability check.
 */
describe.skipIf(!status.ok)('the availability check asks the daemon for /info once', () => {
  let dir: string;
  let server: Server;
  const requests: string[] = [];
  // The client keeps its connections alive: closed here, or the server never closes.
  const open = new Set<Socket>();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferry-docker-proxy-'));
    // The socket the real client would use (DOCKER_HOST, or the default that docker-modem looks up).
    const found = (new Dockerode().modem as unknown as { socketPath?: string | (() => Promise<string>) }).socketPath;
    if (found === undefined) throw new Error('these tests need the Docker daemon on a unix socket');
    const daemon = typeof found === 'function' ? await found() : found;
    server = createServer((client) => {
      open.add(client);
      client.on('close', () => open.delete(client));
      const upstream = connect(daemon);
      client.on('data', (chunk: Buffer) => {
        const line = /^(GET|POST|DELETE|HEAD|PUT) (\S+)/.exec(chunk.toString('latin1'));
        if (line) requests.push(`${line[1]} ${line[2]!.replace(/^\/v[\d.]+/, '')}`);
        upstream.write(chunk);
      });
      upstream.pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.end());
    });
    await new Promise<void>((resolve) => server.listen(join(dir, 'docker.sock'), resolve));
  });

  afterAll(async () => {
    for (const socket of open) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });

  it('for the version and the init binary together, and again for a later check', async () => {
    const driver = new DockerDriver({ docker: createDockerClient({ socketPath: join(dir, 'docker.sock') }), reapOnStart: false });
    const first = await driver.available();
    expect(first).toMatchObject({ ok: true, detail: expect.stringMatching(/^Docker \S+; image /) });
    expect(requests.filter((r) => r === 'GET /info')).toHaveLength(1);
    expect(requests).toContain('GET /version');
    // Not remembered once answered: the init binary or the daemon may have changed since.
    expect(await driver.available()).toMatchObject({ ok: true });
    expect(requests.filter((r) => r === 'GET /info')).toHaveLength(2);
  });
});
