-- CreateEnum
CREATE TYPE "JobPriority" AS ENUM ('high', 'normal', 'low');

-- AlterTable
ALTER TABLE "Job" ADD COLUMN     "priority" "JobPriority" NOT NULL DEFAULT 'normal';
