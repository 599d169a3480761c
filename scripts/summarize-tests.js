#!/usr/bin/env node
// Prints the jest totals from its JUnit report as one line: "jest: N passed, N failed".
const fs = require('node:fs');

const file = process.argv[2] ?? 'test-reports/junit.xml';
const xml = fs.readFileSync(file, 'utf8');
const match = /<testsuites[^>]*\btests="(\d+)"[^>]*\bfailures="(\d+)"[^>]*\berrors="(\d+)"/.exec(xml);
if (!match) {
  console.error(`summarize-tests: no totals in ${file}`);
  process.exit(1);
}
const [tests, failures, errors] = match.slice(1).map(Number);
const failed = failures + errors;
console.log(`jest: ${tests - failed} passed, ${failed} failed`);
process.exit(failed === 0 && tests > 0 ? 0 : 1);
