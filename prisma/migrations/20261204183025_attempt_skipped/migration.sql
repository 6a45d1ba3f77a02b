-- AlterTable
ALTER TABLE "JobAttempt" ADD COLUMN     "skipped" TEXT;
