import { defineConfig } from "prisma/config";

// Prisma 7 reads the connection from here. The project's own runner (`npm run db:migrate`)
// applies migrations; `prisma migrate deploy` agrees with it where the schema engine exists.
export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  datasource: {
    url: process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/darkroom",
  },
});
