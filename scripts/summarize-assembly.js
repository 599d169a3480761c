#!/usr/bin/env node
// Prints a summary of a synthesized cloud assembly: per stack, the resources by type and the
// platform's device-facing names (provisioning template, topic rules, tables, parameters).
const fs = require('node:fs');
const path = require('node:path');

function findTemplates(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory() && entry.name.startsWith('assembly-')) return findTemplates(full);
    return entry.isFile() && entry.name.endsWith('.template.json') ? [full] : [];
  });
}

/** Renders a template value as text, with references shown as <Id>. */
function textOf(value) {
  if (typeof value === 'string') return value;
  if (value && value['Fn::Join']) return value['Fn::Join'][1].map(textOf).join(value['Fn::Join'][0]);
  if (value && value.Ref) return `<${value.Ref}>`;
  if (value && value['Fn::GetAtt']) return `<${value['Fn::GetAtt'].join('.')}>`;
  return JSON.stringify(value);
}

function resourcesOfType(template, type) {
  return Object.entries(template.Resources ?? {}).filter(([, resource]) => resource.Type === type);
}

const assembly = process.argv[2] ?? 'examples/app/cdk.out';
const templates = findTemplates(assembly);
if (templates.length === 0) {
  console.error(`summarize-assembly: no template found in ${assembly}; run 'npm run synth:example' first`);
  process.exit(1);
}

for (const file of templates) {
  const template = JSON.parse(fs.readFileSync(file, 'utf8'));
  const resources = Object.values(template.Resources ?? {});
  console.log(`\n${path.relative(process.cwd(), file)}: ${resources.length} resources`);

  const counts = new Map();
  for (const resource of resources) counts.set(resource.Type, (counts.get(resource.Type) ?? 0) + 1);
  for (const [type, count] of [...counts].sort()) console.log(`  ${String(count).padStart(3)}  ${type}`);

  for (const [, template_] of resourcesOfType(template, 'AWS::IoT::ProvisioningTemplate')) {
    console.log(`  provisioning template: ${template_.Properties.TemplateName}`);
  }
  for (const [id, rule] of resourcesOfType(template, 'AWS::IoT::TopicRule')) {
    const sql = textOf(rule.Properties.TopicRulePayload.Sql);
    console.log(`  topic rule ${id}: ${(/FROM '([^']+)'/.exec(sql) ?? [])[1] ?? sql}`);
  }
  for (const [, parameter] of resourcesOfType(template, 'AWS::SSM::Parameter')) {
    console.log(`  parameter ${parameter.Properties.Name}`);
  }
  const lambdas = resourcesOfType(template, 'AWS::Lambda::Function');
  console.log(`  functions: ${lambdas.map(([, fn]) => fn.Properties.Runtime).join(', ')}`);
}
