// Validates a state machine definition with asl-validator's library, every
// check on, after substituting each ${...} placeholder with a plausible
// Lambda ARN or queue URL the way the template's DefinitionSubstitutions do
// (the validator's schema refuses a Resource that is a bare placeholder).
// Usage: node validate.js statemachine/checkout.asl.json
"use strict";
const fs = require("fs");
const validator = require("asl-validator");

function substitute(text) {
  return text.replace(/\$\{([A-Za-z0-9]+)\}/g, (_, name) => {
    if (name.endsWith("FunctionArn")) {
      return `arn:aws:lambda:us-east-1:123456789012:function:checkout-${name.replace(/FunctionArn$/, "")}`;
    }
    if (name.endsWith("QueueUrl")) {
      return `https://sqs.us-east-1.amazonaws.com/123456789012/checkout-${name.replace(/QueueUrl$/, "")}`;
    }
    throw new Error(`unknown placeholder \${${name}}`);
  });
}

let failed = false;
for (const file of process.argv.slice(2)) {
  const text = fs.readFileSync(file, "utf8");
  const { isValid, errorsText } = validator(JSON.parse(substitute(text)), { checkArn: true, checkPaths: true });
  if (isValid) {
    console.log(`${file}: valid`);
  } else {
    failed = true;
    console.error(`${file}: INVALID\n${errorsText("\n")}`);
  }
}
process.exit(failed ? 1 : 0);
