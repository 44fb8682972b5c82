// Runs node's test runner with a hard time budget. The runner waits for each test
// file's process to exit, so one leaked handle (a consumer retrying a stopped broker,
// a timer) would hold a CI run until its outer limit with nothing to show for it.
// Past the budget the files still running are named, the whole process group
// (runner and test files) is stopped, and the exit status says it failed.
import { spawn, spawnSync } from 'node:child_process';
import { clearTimeout, setTimeout } from 'node:timers';

/**
 * @param {string[]} args node arguments (`--test …`)
 * @param {{ cwd: string, env: NodeJS.ProcessEnv, budgetMs: number, what: string }} opts
 * @returns {Promise<number>} the exit status (1 when the budget ran out)
 */
export function runTestsBounded(args, { cwd, env, budgetMs, what }) {
  return new Promise((resolve) => {
    // detached: its own process group, so the test files it spawns go with it.
    const child = spawn(process.execPath, args, { cwd, env, stdio: 'inherit', detached: true });
    let timedOut = false;
    const kill = (signal) => {
      try {
        process.kill(-child.pid, signal);
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      console.error(`\n✗ ${what}: still running after ${Math.round(budgetMs / 1000)} s; stopping it (a test, or a leaked handle keeping a file's process alive). Still running:`);
      const ps = spawnSync('ps', ['-o', 'pid=,etime=,args=', '--sid', String(child.pid)], { encoding: 'utf8' });
      console.error(ps.stdout || '(ps printed nothing)');
      kill('SIGTERM');
      setTimeout(() => kill('SIGKILL'), 10_000).unref();
    }, budgetMs);
    // The budget must not outlive an interrupted CI run either.
    const forward = (signal) => kill(signal);
    process.once('SIGINT', forward);
    process.once('SIGTERM', forward);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      if (timedOut) {
        resolve(1);
        return;
      }
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}
