-- AlterTable
ALTER TABLE "JobAttempt" ADD COLUMN     "lastStage" TEXT,
ADD COLUMN     "progressStoodMs" INTEGER,
ADD COLUMN     "streamHead" TEXT,
ADD COLUMN     "upstreamDetail" TEXT;
