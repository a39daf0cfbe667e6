// Renders chat templates with Hugging Face's own JavaScript Jinja (@huggingface/jinja), the reference the C# tests
// compare onnxlm's renders against. Input (argv[2]): a JSON file [{template, context}]; output (stdout): a JSON array of
// {text} or {error} in the same order. The context is passed as Hugging Face's apply_chat_template passes it
// (messages, bos_token, eos_token, add_generation_prompt, tools, ...); raise_exception and strftime_now are built in.
import { Template } from "@huggingface/jinja";
import fs from "node:fs";

const cases = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const results = cases.map(({ template, context }) => {
  try {
    return { text: new Template(template).render(context) };
  } catch (e) {
    return { error: String(e && e.message ? e.message : e) };
  }
});
process.stdout.write(JSON.stringify(results));
