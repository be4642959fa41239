// Rewrites the README's config reference from config/schema.ts (`npm run docs`).
import * as fs from "node:fs";
import * as path from "node:path";
import { withConfigReference } from "../config/reference";
import { PROJECT_ROOT } from "../config/paths";

const readme = path.join(PROJECT_ROOT, "README.md");
const before = fs.readFileSync(readme, "utf8");
const after = withConfigReference(before);
fs.writeFileSync(readme, after);
console.log(before === after ? "README.md config reference is up to date" : "README.md config reference rewritten");
