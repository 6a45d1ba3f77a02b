-- AlterTable
ALTER TABLE "Job" ADD COLUMN     "hedgeAfterSeconds" INTEGER;

-- AlterTable
ALTER TABLE "JobAttempt" ADD COLUMN     "hedge" BOOLEAN NOT NULL DEFAULT false;
