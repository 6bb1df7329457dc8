'use strict';
// crm-platform's bridge to @cloud-copilot/iam-simulate (installed beside this file in
// .tools/iam-simulate on first use; AGPL-3.0, run as its own process, never bundled).
// One JSON request per line on stdin: {"id", "simulation"}; one answer per line on stdout,
// in order: {"id", "result", "error", "denials", "grants", "ignored", "unmatched"}.
//
// runSimulation drops kms:EncryptionContext:* context keys (they come back as ignored),
// while its core evaluator handles them: such a request is decided again by
// runUnsafeSimulation, which has no explanation but evaluates the key (the answer says so).
const readline = require('node:readline');
const sim = require('@cloud-copilot/iam-simulate');

function wrap(policy, name) {
  return { __validated: true, policyDocument: policy, metadata: { name }, errors: [] };
}

function unmatched(analysis) {
  // The statements of the resource policy that did not match, with why (conditions).
  const out = [];
  const r = analysis.resourceAnalysis;
  for (const s of (r && r.unmatchedStatements) || []) {
    const explain = s.explain || {};
    out.push({
      sid: explain.identifier || null,
      principal: explain.principalMatch || null,
      action: explain.actionMatch === undefined ? null : explain.actionMatch,
      conditions: (explain.conditions || [])
        .filter((c) => c.matches === false || (c.values && c.values.matches === false))
        .map((c) => ({ key: c.conditionKeyValue, operator: c.operator })),
    });
  }
  return out;
}

async function decide(simulation) {
  const res = await sim.runSimulation(simulation, {});
  if (res.resultType === 'error') {
    return { result: 'Error', error: res.errors.message || JSON.stringify(res.errors) };
  }
  const results = res.resultType === 'single' ? [res.result] : res.results || [];
  if (results.length === 0) {
    // A wildcard request that no statement's resource pattern matches.
    return { result: res.overallResult || 'ImplicitlyDenied', ignored: [], approximated: false,
             denials: [{ policyType: 'identity', denialType: 'Implicit' }], grants: [], unmatched: [] };
  }
  const ignored = [...new Set(results.flatMap((r) => r.ignoredContextKeys || []))];
  let overall = res.overallResult;
  let approximated = false;
  if (ignored.some((k) => k.startsWith('kms:encryptioncontext:') || k.startsWith('kms:EncryptionContext:'))) {
    // runUnsafeSimulation reads the resource policy as an already validated policy.
    const unsafe = {
      ...simulation,
      resourcePolicy: simulation.resourcePolicy ? wrap(simulation.resourcePolicy, 'resource') : undefined,
    };
    overall = sim.runUnsafeSimulation(unsafe, {});
    approximated = true;
  }
  const analysis = results[0].analysis;
  return {
    result: overall,
    ignored: approximated ? ignored.filter((k) => !k.toLowerCase().startsWith('kms:encryptioncontext:')) : ignored,
    approximated,
    denials: overall === 'Allowed' ? [] : results.flatMap((r) => sim.getDenialReasons(r.analysis)),
    grants: overall === 'Allowed' && !approximated ? sim.getGrantReasons(analysis) : [],
    unmatched: overall === 'Allowed' ? [] : unmatched(analysis),
  };
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
let pending = Promise.resolve();
rl.on('line', (line) => {
  if (!line.trim()) return;
  pending = pending.then(async () => {
    let id = null;
    try {
      const msg = JSON.parse(line);
      id = msg.id === undefined ? null : msg.id;
      process.stdout.write(JSON.stringify({ id, ...(await decide(msg.simulation)) }) + '\n');
    } catch (e) {
      process.stdout.write(JSON.stringify({ id, result: 'Error', error: String((e && e.message) || e) }) + '\n');
    }
  });
});
rl.on('close', () => { pending.then(() => process.exit(0)); });
