import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createDockerClient } from '../../sandbox/docker-client.js';
import { demultiplex, DockerHttpError, HttpDockerClient, unixSocketFor } from '../../sandbox/docker-http.js';
import { dockerFrame } from './frames.js';
import { dockerStatus, ensureImage } from './helpers.js';

const status = await dockerStatus();


describe("ferry's own Docker client: where the daemon is", () => {
  it('on the socket given, DOCKER_HOST=unix://…, or the default socket; not over TCP or SSH (dockerode then)', () => {
    expect(unixSocketFor({ socketPath: '/tmp/d.sock' }, {})).toBe('/tmp/d.sock');
    expect(unixSocketFor(undefined, { DOCKER_HOST: 'unix:///run/user/1000/docker.sock' })).toBe('/run/user/1000/docker.sock');
    expect(unixSocketFor(undefined, {})).toMatch(/docker\.sock$/);
    expect(unixSocketFor(undefined, { DOCKER_HOST: 'tcp://10.0.0.5:2376' })).toBeNull();
    expect(unixSocketFor(undefined, { DOCKER_HOST: 'ssh://me@build-host' })).toBeNull();
    expect(unixSocketFor({ host: '10.0.0.5', port: 2375 }, {})).toBeNull();
    expect(createDockerClient({ socketPath: '/tmp/d.sock' })).toBeInstanceOf(HttpDockerClient);
    expect(createDockerClient({ host: '127.0.0.1', port: 1 })).not.toBeInstanceOf(HttpDockerClient);
  });
});

describe("ferry's own Docker client: a container's output", () => {
  it('splits stdout from stderr across frames cut anywhere, in order, and ends with the stream', async () => {
    const raw = new PassThrough();
    const got: Array<[string, string]> = [];
    const ended = demultiplex(raw, (stream, chunk) => got.push([stream, chunk.toString()]));
    const bytes = Buffer.concat([dockerFrame(1, 'batch 1: 3 rows\n'), dockerFrame(2, 'warning: é\n'), dockerFrame(1, ''), dockerFrame(1, 'done\n')]);
    // One byte at a time: every header and payload is cut.
    for (const b of bytes) raw.write(Buffer.from([b]));
    raw.end();
    await ended;
    expect(got).toEqual([
      ['stdout', 'batch 1: 3 rows\n'],
      ['stderr', 'warning: é\n'],
      ['stdout', 'done\n'],
    ]);
  });
});

describe.skipIf(!status.ok)("ferry's own Docker client on the real daemon", () => {
  it("tells a daemon refusal with its status and the daemon's message", async () => {
    const docker = createDockerClient();
    expect(docker).toBeInstanceOf(HttpDockerClient);
    const missing = await docker.inspectContainer('ferry-no-such-container').then(() => null, (e: unknown) => e);
    expect(missing).toBeInstanceOf(DockerHttpError);
    expect(missing).toMatchObject({ statusCode: 404, message: expect.stringMatching(/^\(HTTP code 404\) .*ferry-no-such-container/) });
    expect(await docker.inspectImage('ferry-no-such-image:none')).toBeNull();
    // Gone already is the state wanted: no error.
    await docker.removeContainer('ferry-no-such-container');
  });

  it("creates, attaches, starts, waits for and removes a container, its output split as it came", async () => {
    const { image } = await ensureImage();
    const docker = createDockerClient();
    const id = await docker.createContainer({
      Image: image,
      Entrypoint: ['/usr/local/bin/node'],
      Cmd: ['-e', "process.stdout.write('to stdout\\n'); process.stderr.write('to stderr\\n'); process.exit(3)"],
      Labels: { 'ferry.test': 'docker-http' },
      AttachStdout: true,
      AttachStderr: true,
      AttachStdin: false,
      Tty: false,
      HostConfig: { NetworkMode: 'none' },
    } as unknown as Parameters<typeof docker.createContainer>[0]);
    try {
      const out: Array<[string, string]> = [];
      const { ended } = await docker.attachOutput(id, (stream, chunk) => out.push([stream, chunk.toString()]));
      await docker.startContainer(id);
      expect(await docker.waitContainer(id)).toEqual({ statusCode: 3 });
      await ended;
      expect(out.filter(([s]) => s === 'stdout').map(([, t]) => t).join('')).toBe('to stdout\n');
      expect(out.filter(([s]) => s === 'stderr').map(([, t]) => t).join('')).toBe('to stderr\n');
      expect(await docker.inspectContainer(id)).toEqual({ running: false, exitCode: 3, oomKilled: false });
      expect(await docker.listContainerIds({ 'ferry.test': 'docker-http' })).toContain(id);
    } finally {
      await docker.removeContainer(id);
    }
    expect(await docker.listContainerIds({ 'ferry.test': 'docker-http' })).not.toContain(id);
  });
});
