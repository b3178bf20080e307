// Reads the TAP stream of `tap --reporter=tap` on stdin, echoes the failures and the per-file
// lines, and ends with "N passed, N failed", counting each test file's top-level tests (a file
// that failed without any top-level test result counts as one failure).
import { createInterface } from 'node:readline';

const fileLine = /^(not ok|ok) \d+ - (\S+)/;
const testLine = /^ {4}(not ok|ok) \d+ - (.*?)(?: # (time|SKIP|TODO).*)?$/;
let passed = 0, failed = 0, skipped = 0, testsInFile = 0, failedInFile = 0;
const tail = [];
for await (const line of createInterface({ input: process.stdin })) {
  tail.push(line);
  if (tail.length > 400) tail.shift();
  const test = testLine.exec(line);
  if (test) {
    testsInFile++;
    if (test[3] === 'SKIP') skipped++;
    else if (test[1] === 'ok') passed++;
    else { failed++; failedInFile++; console.log(`FAIL ${test[2]}`); }
    continue;
  }
  const file = fileLine.exec(line);
  if (file) {
    if (file[1] === 'not ok' && failedInFile === 0) {
      failed++;
      console.log(`FAIL ${file[2]} (the file failed outside its tests)`);
      console.log(tail.slice(-60).join('\n'));
    }
    console.log(`${file[1] === 'ok' ? 'ok  ' : 'FAIL'} ${file[2]} (${testsInFile} tests)`);
    testsInFile = 0; failedInFile = 0; tail.length = 0;
  }
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 ? 1 : 0);
