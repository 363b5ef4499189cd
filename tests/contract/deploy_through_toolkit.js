// Runs our `component: scf` inputs through tencent-component-toolkit's own deploy code and prints
// every request it would send to Tencent Cloud, as JSON, on stdout.
//
//   node tests/contract/deploy_through_toolkit.js <toolkit dir> < instances.json
//
// instances.json: [{"instance": name, "region": r, "inputs": {...}}], each `inputs` being an
// instance's serverless.yml `inputs` with `${env:...}` resolved, as the CLI hands them to the scf
// component. The component (tencent-scf 0.9.10, src/serverless.js deploy -> src/utils.js
// formatInputs) uploads the code to COS, sets `code`, `description` and, for apigw events,
// `parameters.isInputServiceId`/`description`, then calls `new Scf(credentials, region).deploy(inputs)`:
// that call, the toolkit's, is what runs here, unmodified.
//
// The only stand-in is the transport: `Capi.prototype.request` of the toolkit's own @tencent-sdk/capi,
// the one function every toolkit API call goes through (lib/utils/api.js ApiFactory). It records
// {Action, Version, params} and answers as a new, empty account would: no function, trigger,
// service or API exists until the toolkit creates it.
'use strict';

const path = require('path');

const toolkitDir = path.resolve(process.argv[2]);
const resolveFrom = (name) => require.resolve(name, { paths: [toolkitDir] });
const { Capi } = require(resolveFrom('@tencent-sdk/capi'));
const { Scf } = require(resolveFrom('tencent-component-toolkit'));
const toolkitVersion = require(resolveFrom('tencent-component-toolkit/package.json')).version;

const sent = [];
const functions = new Map();
let serial = 0;

function cloudError(code, message) {
  return { Response: { Error: { Code: code, Message: message }, RequestId: `req-${++serial}` } };
}

// An empty account, answering only what the toolkit needs to go on; anything else: empty success.
function answer(action, params) {
  const ok = (body) => ({ Response: Object.assign({ RequestId: `req-${++serial}` }, body) });
  switch (action) {
    case 'GetFunction': {
      const fn = functions.get(`${params.Namespace}/${params.FunctionName}`);
      if (!fn) return cloudError('ResourceNotFound.Function', 'function not found');
      return ok(fn);
    }
    case 'CreateFunction':
      functions.set(`${params.Namespace || 'default'}/${params.FunctionName}`, {
        FunctionName: params.FunctionName,
        Namespace: params.Namespace || 'default',
        Status: 'Active',
        Handler: params.Handler,
        Runtime: params.Runtime,
        MemorySize: params.MemorySize,
        Timeout: params.Timeout,
        Qualifier: '$LATEST',
        Triggers: [],
        Tags: [],
      });
      return ok({});
    case 'ListTriggers':
      return ok({ Triggers: [], TotalCount: 0 });
    case 'CreateTrigger':
      return ok({
        TriggerInfo: {
          Type: params.Type,
          TriggerName: params.TriggerName,
          TriggerDesc: params.TriggerDesc,
          Qualifier: params.Qualifier,
          Enable: 1,
        },
      });
    case 'CreateService':
      return ok({
        ServiceId: `service-${++serial}`,
        ServiceName: params.ServiceName,
        ServiceDesc: params.ServiceDesc,
        Protocol: params.Protocol,
        OuterSubDomain: `service-${serial}-1250000000.gz.apigw.tencentcs.com`,
        InnerSubDomain: '',
        NetTypes: params.NetTypes,
      });
    case 'DescribeApisStatus':
      return ok({ ApiIdStatusSet: [], TotalCount: 0 });
    case 'CreateApi':
      return ok({ ApiId: `api-${++serial}`, Path: params.RequestConfig && params.RequestConfig.Path });
    case 'ListAliases':
      return ok({ Aliases: [], TotalCount: 0 });
    default:
      return ok({});
  }
}

Capi.prototype.request = async function request(data) {
  const { Action, Version, ...params } = data;
  sent.push({ service: this.options.ServiceType, action: Action, version: Version, params });
  return answer(Action, params);
};

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const instances = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  const results = [];
  const log = console.log;
  for (const { instance, region, inputs } of instances) {
    sent.length = 0;
    console.log = () => {}; // the toolkit's progress lines; stdout carries only our JSON
    let error = null;
    try {
      await new Scf({ SecretId: 'AKIDcontract', SecretKey: 'contract' }, region).deploy(inputs);
    } catch (e) {
      error = { message: e.message, code: e.code || null };
    } finally {
      console.log = log;
    }
    results.push({ instance, error, requests: sent.slice() });
  }
  process.stdout.write(JSON.stringify({ toolkitVersion, results }));
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e));
  process.exit(1);
});
