package iampolicy_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log"

	"github.com/mlseal/mlseal/iampolicy"
)

// A job that decrypts a dataset from S3 under its encryption context, and
// reads a database password from Secrets Manager.
func Example() {
	p, err := iampolicy.New(iampolicy.Job{
		Role:              iampolicy.RoleDecrypt,
		Keys:              []string{"arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
		EncryptionContext: map[string]string{"dataset": "train"},
		UnsignedOnly:      true, // mlseal encrypt --unsigned-only wrote the data
		S3Read:            []string{"s3://ml-data/enc/train/"},
		Secrets:           []string{"secretsmanager://prod/db#password"},
		Region:            "eu-west-1",
		Account:           "111122223333",
	})
	if err != nil {
		log.Fatal(err)
	}
	doc, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", doc)
	// Output:
	// {
	//   "Version": "2012-10-17",
	//   "Statement": [
	//     {
	//       "Sid": "MlsealDecrypt",
	//       "Effect": "Allow",
	//       "Action": [
	//         "kms:Decrypt"
	//       ],
	//       "Resource": [
	//         "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	//       ],
	//       "Condition": {
	//         "ForAllValues:StringEquals": {
	//           "kms:EncryptionContextKeys": [
	//             "dataset"
	//           ]
	//         },
	//         "StringEquals": {
	//           "kms:EncryptionContext:dataset": "train"
	//         }
	//       }
	//     },
	//     {
	//       "Sid": "MlsealS3List0",
	//       "Effect": "Allow",
	//       "Action": [
	//         "s3:ListBucket"
	//       ],
	//       "Resource": [
	//         "arn:aws:s3:::ml-data"
	//       ],
	//       "Condition": {
	//         "StringLike": {
	//           "s3:prefix": [
	//             "enc/train/*"
	//           ]
	//         }
	//       }
	//     },
	//     {
	//       "Sid": "MlsealS3Read",
	//       "Effect": "Allow",
	//       "Action": [
	//         "s3:GetObject"
	//       ],
	//       "Resource": [
	//         "arn:aws:s3:::ml-data/enc/train/*"
	//       ]
	//     },
	//     {
	//       "Sid": "MlsealGetSecretValue",
	//       "Effect": "Allow",
	//       "Action": [
	//         "secretsmanager:GetSecretValue"
	//       ],
	//       "Resource": [
	//         "arn:aws:secretsmanager:eu-west-1:111122223333:secret:prod/db-??????"
	//       ]
	//     }
	//   ]
	// }
}

// A policy cannot name a key by alias: the error says which value is at
// fault and what to do.
func ExampleFieldError() {
	_, err := iampolicy.New(iampolicy.Job{Keys: []string{"alias/training-data"}})
	var fe *iampolicy.FieldError
	if errors.As(err, &fe) && errors.Is(err, iampolicy.ErrNotKeyARN) {
		fmt.Println(fe.Field, fe.Value)
	}
	fmt.Println(err)
	// Output:
	// Keys alias/training-data
	// iampolicy: Job.Keys "alias/training-data": not a KMS key ARN: a policy names keys by key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID); 'aws kms describe-key --key-id alias/NAME' shows an alias's key ARN
}
