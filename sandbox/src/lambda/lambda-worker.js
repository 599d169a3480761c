// @ts-check
'use strict';
// Worker thread that hosts one instance of a Lambda function for LocalLambdaRuntime. It loads the
// handler module once (the init phase), then runs one invocation at a time as the parent sends
// them. This file is plain JavaScript because worker threads start without the TypeScript loader
// that Jest or ts-node give the parent thread.
const fs = require('node:fs');
const Module = require('node:module');
const path = require('node:path');
const { pathToFileURL } = require('node:url');
const { parentPort, workerData } = require('node:worker_threads');

if (!parentPort) {
  throw new Error('lambda-worker.js runs only as a worker thread started by LocalLambdaRuntime.');
}
const port = parentPort;

/**
 * @typedef {{ errorType: string; errorMessage: string; trace: string[] }} LambdaError
 * @typedef {{ type: 'invoke'; requestId: string; event: string; deadline: number; invokedFunctionArn: string; clientContext?: unknown }} InvokeMessage
 */

// Node.js reads NODE_PATH from the worker's own environment when the worker's module loader
// starts. The check re-reads it for Node.js versions whose loader started before the environment
// was applied, so that `@aws-sdk/*` resolves from nodeModulesPath as it does from
// /var/runtime/node_modules in Lambda.
if (!Module.globalPaths.includes(workerData.nodeModulesPath)) {
  /** @type {any} */ (Module)._initPaths();
}
if (/(^|\s)--enable-source-maps(\s|$)/.test(process.env.NODE_OPTIONS ?? '')) {
  process.setSourceMapsEnabled(true);
}

/** @type {string | undefined} */
let currentRequestId;

/**
 * Converts a thrown value to the error document that Lambda returns for a failed invocation.
 * @param {unknown} error
 * @returns {LambdaError}
 */
function toLambdaError(error) {
  if (error instanceof Error) {
    return {
      errorType: error.name || error.constructor?.name || 'Error',
      errorMessage: error.message,
      trace: String(error.stack ?? '').split('\n'),
    };
  }
  return { errorType: typeof error, errorMessage: typeof error === 'string' ? error : safeStringify(error), trace: [] };
}

/** @param {unknown} value */
function safeStringify(value) {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/**
 * @param {string} errorType
 * @param {string} errorMessage
 */
function runtimeError(errorType, errorMessage) {
  return Object.assign(new Error(errorMessage), { name: errorType });
}

/** Loads the module and export that `_HANDLER` names, such as `index.handler` or `lib/app.main`. */
async function loadHandler() {
  const handler = String(workerData.handler);
  const slash = handler.lastIndexOf('/');
  const fileAndExport = handler.slice(slash + 1);
  const dot = fileAndExport.indexOf('.');
  if (dot <= 0 || dot === fileAndExport.length - 1) {
    throw runtimeError('Runtime.MalformedHandlerName', `Bad handler ${handler}: expected <module>.<export>, such as index.handler.`);
  }
  const moduleName = handler.slice(0, slash + 1) + fileAndExport.slice(0, dot);
  const modulePath = path.resolve(workerData.codeDirectory, moduleName);
  const file = ['.js', '.mjs', '.cjs'].map((extension) => modulePath + extension).find((candidate) => fs.existsSync(candidate));
  if (!file) {
    throw runtimeError('Runtime.ImportModuleError', `Error: Cannot find module '${moduleName}' in ${workerData.codeDirectory}`);
  }

  let moduleExports;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    moduleExports = file.endsWith('.mjs') ? await import(pathToFileURL(file).href) : require(file);
  } catch (error) {
    const code = /** @type {{ code?: string }} */ (error).code;
    if (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') {
      throw runtimeError('Runtime.ImportModuleError', `Error: ${/** @type {Error} */ (error).message}`);
    }
    throw error;
  }

  let target = moduleExports;
  for (const key of fileAndExport.slice(dot + 1).split('.')) {
    target = target == null ? undefined : target[key];
  }
  if (typeof target !== 'function') {
    throw runtimeError('Runtime.HandlerNotFound', `${handler} is undefined or not exported`);
  }
  return target;
}

/** @param {InvokeMessage} message */
function lambdaContext(message) {
  return {
    functionName: workerData.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: message.invokedFunctionArn,
    memoryLimitInMB: String(workerData.memoryMb),
    awsRequestId: message.requestId,
    logGroupName: workerData.logGroupName,
    logStreamName: workerData.logStreamName,
    identity: undefined,
    clientContext: message.clientContext,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, message.deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

// Lambda ends the execution environment after an error that escapes the handler's promise, and
// reports it as the result of the invocation that was running.
process.on('unhandledRejection', (reason) => {
  const error = toLambdaError(reason);
  port.postMessage({
    type: 'crash',
    requestId: currentRequestId,
    error: { errorType: 'Runtime.UnhandledPromiseRejection', errorMessage: `${error.errorType}: ${error.errorMessage}`, trace: error.trace },
  });
  process.exit(128);
});
process.on('uncaughtException', (error) => {
  port.postMessage({ type: 'crash', requestId: currentRequestId, error: toLambdaError(error) });
  process.exit(129);
});

loadHandler().then(
  (handler) => {
    port.on('message', (/** @type {InvokeMessage} */ message) => {
      if (message.type !== 'invoke') {
        return;
      }
      currentRequestId = message.requestId;
      void (async () => {
        try {
          const result = await handler(JSON.parse(message.event), lambdaContext(message));
          // Lambda serializes the result as JSON, and a handler that returns nothing returns null.
          const payload = result === undefined ? 'null' : JSON.stringify(result) ?? 'null';
          port.postMessage({ type: 'result', requestId: message.requestId, payload });
        } catch (error) {
          port.postMessage({ type: 'error', requestId: message.requestId, error: toLambdaError(error) });
        } finally {
          currentRequestId = undefined;
        }
      })();
    });
    port.postMessage({ type: 'ready' });
  },
  (error) => {
    port.postMessage({ type: 'init-error', error: toLambdaError(error) });
  },
);
