// Writes the protocol's JSON Schema where the engine reads it, and the config's for editors. Run by `npm run build`.
import { fileURLToPath } from "node:url";
import { join, dirname } from "node:path";
import { writeJsonAtomic } from "../util/fs.js";
import { protocolJsonSchema } from "./schema.js";
import { configJsonSchema } from "../config/schema.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const PROTOCOL_SCHEMA_PATH = join(ROOT, "engine", "hone_engine", "protocol.schema.json");
export const CONFIG_SCHEMA_PATH = join(ROOT, "docs", "hone.schema.json");

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeJsonAtomic(PROTOCOL_SCHEMA_PATH, protocolJsonSchema());
  writeJsonAtomic(CONFIG_SCHEMA_PATH, configJsonSchema());
}
