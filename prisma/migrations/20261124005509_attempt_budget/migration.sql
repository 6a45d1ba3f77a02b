-- AlterTable
-- Existing jobs get the API's default deadline; the default is dropped afterwards so that the
-- column ends as schema.prisma describes it (required, no default).
ALTER TABLE "Job" ADD COLUMN     "attemptBase" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "deadlineSeconds" INTEGER NOT NULL DEFAULT 900;
ALTER TABLE "Job" ALTER COLUMN "deadlineSeconds" DROP DEFAULT;
