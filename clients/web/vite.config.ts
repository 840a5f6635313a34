/// <reference types="vitest/config" />
import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The generated TypeScript lives in the repository's gen/ts (from protos/ by `make gen`); its
// imports of @bufbuild/protobuf resolve to this package's copy (dedupe).
const gen = fileURLToPath(new URL("../../gen/ts", import.meta.url));
const edge = process.env.MEETMESH_EDGE_URL ?? "http://127.0.0.1:8800";

export default defineConfig({
  plugins: [react()],
  resolve: {
    alias: { "@gen": gen },
    dedupe: ["@bufbuild/protobuf", "@connectrpc/connect"],
  },
  server: {
    host: "127.0.0.1",
    port: 5173,
    fs: { allow: [".", gen] },
    // `make web`: every API path goes to a running platform's edge (`make run`).
    proxy: {
      "^/meetmesh\\.": { target: edge, changeOrigin: false },
      "/v1": { target: edge },
      "/objects": { target: edge },
      "/rtc": { target: edge.replace(/^http/, "ws"), ws: true },
    },
  },
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 800 },
  test: { environment: "node", include: ["src/**/*.test.ts"] },
});
