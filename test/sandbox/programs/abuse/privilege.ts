// Tries to gain privileges: setuid/setgid from node, and mount, unshare, ptrace, setuid,
// chroot as raw system calls through perl when the image has it (the syscall test image).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { runHarness } from '../../../../sandbox/harness/harness.js';
import { attempt } from '../attempts.js';

declare const __HOST_PID__: number;

// x86-64 system call numbers; each result is 0 (allowed) or the errno. ptrace(PTRACE_ATTACH)
// aims at the orchestrator's pid on the host.
const PERL = `
my ($none, $tmp, $fs) = ("none", "/tmp", "tmpfs");
my %r;
sub try { my ($name, $rc) = @_; $r{$name} = $rc == -1 ? $! + 0 : 0; }
try("mount", syscall(165, $none, $tmp, $fs, 0, 0));
try("unshareUser", syscall(272, 0x10000000));
try("unshareMount", syscall(272, 0x00020000));
try("unshareNet", syscall(272, 0x40000000));
try("setuid", syscall(105, 0));
try("chroot", syscall(161, $tmp));
try("ptraceHost", syscall(101, 16, $ARGV[0] + 0, 0, 0));
print join(",", map { "$_=$r{$_}" } sort keys %r);
`;

function processes(): string[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .map((p) => {
      try {
        const status = readFileSync(`/proc/${p}/status`, 'utf8');
        const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1] ?? '?';
        return `${readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0')[0] ?? ''} uid=${uid}`;
      } catch {
        return `${p} gone`;
      }
    });
}

const found = {
  setuid: attempt(() => process.setuid?.(0)),
  setgid: attempt(() => process.setgid?.(0)),
  seteuid: attempt(() => process.seteuid?.(0)),
  capEff: /^CapEff:\s+(\S+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? null,
  noNewPrivs: /^NoNewPrivs:\s+(\S+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? null,
  syscalls: existsSync('/usr/bin/perl') ? execFileSync('/usr/bin/perl', ['-e', PERL, String(__HOST_PID__)], { encoding: 'utf8' }) : 'no perl',
  processes: processes(),
};
void runHarness(() => found);
