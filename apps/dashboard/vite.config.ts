import { defineConfig } from "vite";

// Vite 8 transforms JSX with its built-in oxc transformer, so no React plugin is needed
// (no Fast Refresh either: the dashboard is built to static files, not developed against a dev server).
export default defineConfig({
  base: "/dashboard/",
  oxc: { jsx: { runtime: "automatic" } },
  build: { outDir: "dist", emptyOutDir: true },
});
