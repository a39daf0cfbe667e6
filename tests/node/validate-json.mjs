// Independent JSON-schema validation for the structured-output tests and the enforcement report: ajv 8 (draft 2020-12,
// or draft-04 for the JSON-Schema-Test-Suite's draft4 files) with ajv-formats, all in one process.
// Usage: node validate-json.mjs BATCH.json
//   BATCH.json: [{"schema": {...}, "instance": <any JSON>, "draft": "2020-12" | "04"}, ...]
// Prints one line: RESULT [{"valid": true} | {"valid": false, "errors": "..."} | {"valid": false, "schemaError": "..."}, ...]
// in input order. Schemas are compiled once per distinct text. Exit 0 unless the batch itself cannot be read.
import { readFileSync } from "node:fs";
import Ajv2020 from "ajv/dist/2020.js";
import AjvDraft04 from "ajv-draft-04";
import addFormats from "ajv-formats";

const options = { strict: false, allErrors: false, validateFormats: true };
const ajv2020 = new Ajv2020(options);
const ajv04 = new AjvDraft04(options);
addFormats(ajv2020);
addFormats(ajv04);

const batch = JSON.parse(readFileSync(process.argv[2], "utf8"));
const compiled = new Map();
const results = batch.map(({ schema, instance, draft }) => {
    const key = (draft ?? "2020-12") + "\u0000" + JSON.stringify(schema);
    let validate = compiled.get(key);
    if (validate === undefined) {
        try {
            validate = (draft === "04" ? ajv04 : ajv2020).compile(schema);
        } catch (e) {
            validate = String(e.message ?? e);
        }
        compiled.set(key, validate);
    }
    if (typeof validate === "string") return { valid: false, schemaError: validate };
    return validate(instance) ? { valid: true } : { valid: false, errors: JSON.stringify(validate.errors) };
});
process.stdout.write("RESULT " + JSON.stringify(results) + "\n");
