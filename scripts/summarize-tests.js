#!/usr/bin/env node
// Prints the totals of one or more jest JUnit reports as one line: "jest: N passed, N failed".
const fs = require('node:fs');

const files = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['test-reports/junit.xml'];
let tests = 0;
let failed = 0;
for (const file of files) {
  const xml = fs.readFileSync(file, 'utf8');
  const match = /<testsuites[^>]*\btests="(\d+)"[^>]*\bfailures="(\d+)"[^>]*\berrors="(\d+)"/.exec(xml);
  if (!match) {
    console.error(`summarize-tests: no totals in ${file}`);
    process.exit(1);
  }
  const [fileTests, failures, errors] = match.slice(1).map(Number);
  tests += fileTests;
  failed += failures + errors;
}
console.log(`jest: ${tests - failed} passed, ${failed} failed`);
process.exit(failed === 0 && tests > 0 ? 0 : 1);
