// Builds dist/: the page (src/) and the Swagger UI files it uses, copied from node_modules at build
// time so that the edge serves everything itself (no CDN at run time). `npm run build`.
import { cpSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");
const swagger = join(here, "node_modules", "swagger-ui-dist");

rmSync(dist, { recursive: true, force: true });
mkdirSync(join(dist, "vendor"), { recursive: true });
cpSync(join(here, "src"), dist, { recursive: true });
for (const file of ["swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "NOTICE"]) {
  cpSync(join(swagger, file), join(dist, "vendor", file));
}
console.log(`built ${dist}`);
